package runtimeapi

import (
	"strconv"
	"strings"
)

// statHeader is HAProxy 2.6's "show stat" CSV header, byte for byte as
// haproxy 2.6.12 prints it (with the modules Debian builds in: ssl, h2,
// h1), including the "-" column that separates the standard fields from
// the modules' and the trailing comma.
const statHeader = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,cache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur,used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,agg_check_status,-,ssl_sess,ssl_reused_sess,ssl_failed_handshake,h2_headers_rcvd,h2_data_rcvd,h2_settings_rcvd,h2_rst_stream_rcvd,h2_goaway_rcvd,h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,h2_rst_stream_resp,h2_goaway_resp,h2_open_connections,h2_backend_open_streams,h2_total_connections,h2_backend_total_streams,h1_open_connections,h1_open_streams,h1_total_connections,h1_total_streams,h1_bytes_in,h1_bytes_out,h1_spliced_bytes_in,h1_spliced_bytes_out,"

// statColumns are the header's column names, in order.
var statColumns = strings.Split(strings.TrimSuffix(strings.TrimPrefix(statHeader, "# "), ","), ",")

// statIndex maps a column name to its position.
var statIndex = func() map[string]int {
	m := make(map[string]int, len(statColumns))
	for i, c := range statColumns {
		m[c] = i
	}
	return m
}()

// appendStatRow appends r as one CSV line. Which columns a row fills
// follows HAProxy's stats_fill_{fe,be,sv}_stats for a tcp-mode proxy;
// a column this proxy has no value for stays empty. showAddr is HAProxy's
// STAT_SHLGNDS (level operator or admin): server addresses and the
// balance algorithm.
func appendStatRow(b []byte, r *StatRow, showAddr bool) []byte {
	f := make([]string, len(statColumns))
	set := func(col, v string) { f[statIndex[col]] = v }
	num := func(col string, n int64) { set(col, strconv.FormatInt(n, 10)) }
	set("pxname", r.Proxy)
	set("svname", r.Name)
	set("mode", "tcp")
	set("-", "-")
	num("pid", 1)
	num("iid", int64(r.IID))
	num("sid", int64(r.SID))
	num("type", int64(r.Type))
	num("scur", r.Scur)
	num("stot", r.Stot)
	num("bin", r.Bin)
	num("bout", r.Bout)
	if r.Slim > 0 {
		num("slim", int64(r.Slim))
	}
	set("status", r.Status)
	switch r.Type {
	case FrontendRow:
		num("ereq", r.Ereq)
		num("dcon", r.Dcon)
	case BackendRow, ServerRow:
		num("qcur", r.Qcur)
		num("econ", r.Econ)
		num("wretr", r.Wretr)
		num("wredis", r.Wredis)
		num("weight", int64(r.Weight))
		num("uweight", int64(r.UWeight))
		num("act", int64(r.Act))
		num("bck", int64(r.Bck))
		if r.LastChg >= 0 {
			num("lastchg", r.LastChg)
		}
	}
	if r.Type == BackendRow && showAddr {
		set("algo", r.Algo)
	}
	if r.Type == ServerRow {
		if r.Qlimit > 0 {
			num("qlimit", int64(r.Qlimit))
		}
		if r.Check {
			num("chkfail", r.ChkFail)
			num("chkdown", r.ChkDown)
			set("check_status", r.CheckStatus)
			set("check_desc", r.CheckDesc)
			set("last_chk", r.LastChk)
			num("check_rise", int64(r.CheckRise))
			num("check_fall", int64(r.CheckFall))
			num("check_health", int64(r.CheckHealth))
		}
		if showAddr {
			set("addr", r.Addr)
		}
	}
	for _, v := range f {
		b = appendCSV(b, v)
		b = append(b, ',')
	}
	return append(b, '\n')
}

// appendCSV appends one field, quoted (with doubled quotes) only when it
// holds a comma, a quote or a line break, as HAProxy's csv_enc.
func appendCSV(b []byte, v string) []byte {
	if !strings.ContainsAny(v, ",\"\r\n") {
		return append(b, v...)
	}
	b = append(b, '"')
	b = append(b, strings.ReplaceAll(v, `"`, `""`)...)
	return append(b, '"')
}
