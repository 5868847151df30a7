module github.com/netmodels/netmodels/conformance

go 1.26.0

require github.com/netmodels/netmodels/core v0.0.0

replace github.com/netmodels/netmodels/core => ../core
