//go:build !race

package netpollengine

// raceBuild: see race_test.go.
const raceBuild = false
