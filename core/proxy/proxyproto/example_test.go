package proxyproto_test

import (
	"fmt"
	"net/netip"

	"github.com/netmodels/netmodels/core/proxy/proxyproto"
)

// A receiver calls Decode on everything buffered each time bytes arrive,
// consumes nothing until the header is complete, and closes at the first
// *Error.
func ExampleDecode() {
	stream := []byte("PROXY TCP4 192.0.2.10 198.51.100.20 40000 443\r\nGET / HTTP/1.1\r\n")
	var buf []byte
	for _, segment := range [][]byte{stream[:20], stream[20:]} {
		buf = append(buf, segment...)
		h, n, err := proxyproto.Decode(buf)
		if err == proxyproto.ErrNeedMore {
			fmt.Println("need more after", len(buf), "bytes")
			continue
		}
		if err != nil {
			fmt.Println("close:", err)
			return
		}
		src, dst, _ := h.Addresses()
		fmt.Println(src, "->", dst, "payload:", string(buf[n:n+3]))
	}
	// Output:
	// need more after 20 bytes
	// 192.0.2.10:40000 -> 198.51.100.20:443 payload: GET
}

func ExampleHeader_AppendV2() {
	h, _ := proxyproto.NewProxy(2, netip.MustParseAddrPort("127.0.0.2:40003"), netip.MustParseAddrPort("127.0.0.1:8003"))
	b, _ := h.AppendV2(nil)
	fmt.Printf("% x\n", b)
	// Output:
	// 0d 0a 0d 0a 00 0d 0a 51 55 49 54 0a 21 11 00 0c 7f 00 00 02 7f 00 00 01 9c 43 1f 43
}
