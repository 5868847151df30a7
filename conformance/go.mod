module github.com/netmodels/netmodels/conformance

go 1.24
