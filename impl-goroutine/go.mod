module github.com/netmodels/netmodels/impl-goroutine

go 1.24
