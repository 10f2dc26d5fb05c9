package ftp

import "time"

// SetDataHelloTimeout changes dataHelloTimeout until the returned function
// is called (not while a gateway runs).
func SetDataHelloTimeout(d time.Duration) (restore func()) {
	old := dataHelloTimeout
	dataHelloTimeout = d
	return func() { dataHelloTimeout = old }
}

// SetDataConnectTimeout changes dataConnectTimeout until the returned
// function is called (not while a gateway runs).
func SetDataConnectTimeout(d time.Duration) (restore func()) {
	old := dataConnectTimeout
	dataConnectTimeout = d
	return func() { dataConnectTimeout = old }
}
