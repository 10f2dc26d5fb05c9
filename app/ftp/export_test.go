package ftp

import "time"

// SetDataHelloTimeout changes dataHelloTimeout until the returned function
// is called (not while a gateway runs).
func SetDataHelloTimeout(d time.Duration) (restore func()) {
	old := dataHelloTimeout
	dataHelloTimeout = d
	return func() { dataHelloTimeout = old }
}
