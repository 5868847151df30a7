package result

// GroupConns is the group of the connection sweep's scenarios (perf/bench
// conns.go): one scenario per number of connections held, its N in
// Params["conns"]; the report gathers them in its "Connections" section.
const GroupConns = "conns"
