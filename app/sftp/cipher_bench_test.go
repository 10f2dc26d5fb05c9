package sftp

import (
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"net"
	"testing"

	"golang.org/x/crypto/ssh"
)

// The cost of each offered cipher on a data stream, both ends in this
// process (encrypt and decrypt): what a 32 KiB-write upload pays per byte
// before SFTP does anything.
func BenchmarkCiphers(b *testing.B) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := ssh.NewSignerFromKey(priv)
	for _, cipher := range []string{ssh.CipherChaCha20Poly1305, ssh.CipherAES128GCM, ssh.CipherAES128CTR} {
		b.Run(cipher, func(b *testing.B) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			srvCfg := &ssh.ServerConfig{NoClientAuth: true}
			srvCfg.Ciphers, srvCfg.MACs = []string{cipher}, MACs
			srvCfg.AddHostKey(signer)
			done := make(chan int64, 1)
			go func() {
				c, err := l.Accept()
				if err != nil {
					return
				}
				_, chans, reqs, err := ssh.NewServerConn(c, srvCfg)
				if err != nil {
					return
				}
				go ssh.DiscardRequests(reqs)
				nc := <-chans
				ch, creqs, _ := nc.Accept()
				go ssh.DiscardRequests(creqs)
				n, _ := io.Copy(io.Discard, ch)
				done <- n
			}()
			cli, err := ssh.Dial("tcp", l.Addr().String(), &ssh.ClientConfig{User: "u", HostKeyCallback: ssh.InsecureIgnoreHostKey(),
				Config: ssh.Config{Ciphers: []string{cipher}, MACs: MACs}})
			if err != nil {
				b.Fatal(err)
			}
			defer cli.Close()
			ch, reqs, err := cli.OpenChannel("session", nil)
			if err != nil {
				b.Fatal(err)
			}
			go ssh.DiscardRequests(reqs)
			buf := make([]byte, 32<<10)
			b.SetBytes(int64(len(buf)))
			b.ResetTimer()
			for b.Loop() {
				if _, err := ch.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			ch.CloseWrite()
			<-done
		})
	}
}
