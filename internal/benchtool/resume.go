package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"strings"
	"time"
)

// resumeCost: a big upload is cut at half (the data connection's TCP closed
// without TLS close_notify, as a dropped link does), then finished two
// ways: resumed (SIZE, REST n, STOR of the rest) and restarted (STOR of the
// whole file). Both objects are checked byte for byte.
func (b *bench) resumeCost(size int64, rounds int) {
	log.Printf("resume: %d MiB cut at 50%% × %d rounds", size>>20, rounds)
	path, sum := b.randomFile("resume.bin", size)
	defer os.Remove(path)
	var resumed, restarted, sent []float64
	for r := 0; r < rounds; r++ {
		for _, resume := range []bool{true, false} {
			key := fmt.Sprintf("resume-%d-%v.bin", r, resume)
			b.cutUpload(path, key, size/2)
			s := b.login()
			t0 := time.Now()
			offset := int64(0)
			if resume {
				s.send("SIZE %s", key)
				fmt.Sscanf(strings.TrimPrefix(s.expect("213"), "213 "), "%d", &offset)
				s.send("REST %d", offset)
				s.expect("350")
			}
			check(s.storFile(key, path, offset))
			d := time.Since(t0).Seconds()
			s.close()
			b.verify(key, sum)
			b.deleteKeys(key)
			if resume {
				resumed = append(resumed, d)
				sent = append(sent, float64(size-offset)/mib)
			} else {
				restarted = append(restarted, d)
			}
		}
	}
	b.row(fmt.Sprintf("upload %d MiB cut at 50%%: time to finish, resumed / sent again whole", size>>20),
		fmt.Sprintf("%.1f s / %.1f s (resume sent %.0f MiB)", median(resumed), median(restarted), median(sent)), "")
	b.results["resume"] = map[string]any{"size_mib": size >> 20, "resumed_s": resumed, "restarted_s": restarted, "resumed_sent_mib": sent}
}

// cutUpload sends the first n bytes of path as key, then drops the data
// connection's TCP without close_notify, and waits for the gateway's reply.
func (b *bench) cutUpload(path, key string, n int64) {
	s := b.login()
	defer s.close()
	port := s.epsv()
	s.send("STOR %s", key)
	raw, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 10*time.Second)
	check(err)
	conn := tls.Client(raw, s.cfg)
	s.expect("150")
	f, err := os.Open(path)
	check(err)
	defer f.Close()
	_, err = io.CopyN(conn, f, n)
	check(err)
	raw.Close() // a cut link: no close_notify
	s.expect("4")
}

// storFile uploads path from offset (after a REST, if any) on a session.
func (s *ftpSession) storFile(key, path string, offset int64) error {
	port := s.epsv()
	s.send("STOR %s", key)
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", fmt.Sprintf("127.0.0.1:%d", port), s.cfg)
	if err != nil {
		return err
	}
	s.expect("150")
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return err
	}
	if _, err = io.Copy(conn, f); err == nil {
		err = conn.Close()
	}
	s.expect("226")
	return err
}

func (s *ftpSession) epsv() int {
	s.send("EPSV")
	line := s.expect("229")
	var port int
	fmt.Sscanf(line[strings.Index(line, "|||")+3:], "%d", &port)
	return port
}
