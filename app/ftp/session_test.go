package ftp_test

import (
	"bytes"
	"io"
	"slices"
	"testing"

	"github.com/jlaffaye/ftp"
)

// A user's whole session with the Go client over implicit TLS.
func TestGoClientSession(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			g := startGateway(t, gatewayOptions{backend: backend})
			c := g.dial(t)
			data := randomData(12<<20 + 7) // several parts on S3

			must(t, c.MakeDir("reports"))
			must(t, c.ChangeDir("reports"))
			if dir, _ := c.CurrentDir(); dir != "/reports" {
				t.Fatalf("PWD = %q", dir)
			}
			must(t, c.Stor("data.bin", bytes.NewReader(data)))
			must(t, c.Stor("empty.txt", bytes.NewReader(nil)))

			entries, err := c.List(".") // MLSD
			must(t, err)
			if names := entryNames(entries); !slices.Equal(names, []string{"data.bin", "empty.txt"}) {
				t.Fatalf("MLSD = %v", names)
			}
			if size, err := c.FileSize("data.bin"); err != nil || size != int64(len(data)) {
				t.Fatalf("SIZE = %d, %v", size, err)
			}
			if got := retr(t, c, "data.bin"); !bytes.Equal(got, data) {
				t.Fatalf("RETR differs (%d bytes back)", len(got))
			}
			if got := retr(t, c, "/reports/empty.txt"); len(got) != 0 {
				t.Fatal("empty file has content")
			}
			r, err := c.RetrFrom("data.bin", 5<<20) // REST
			must(t, err)
			tail, _ := io.ReadAll(r)
			r.Close()
			if !bytes.Equal(tail, data[5<<20:]) {
				t.Fatal("RETR after REST differs")
			}

			must(t, c.Rename("data.bin", "renamed.bin"))
			must(t, c.ChangeDirToParent())
			must(t, c.MakeDir("archive"))
			must(t, c.Rename("reports", "archive/2026"))
			if got := retr(t, c, "/archive/2026/renamed.bin"); !bytes.Equal(got, data) {
				t.Fatal("content changed by the renames")
			}
			names, err := c.NameList("/")
			must(t, err)
			if !slices.Equal(names, []string{"archive"}) {
				t.Fatalf("NLST / = %v", names)
			}
			must(t, c.Delete("/archive/2026/renamed.bin"))
			must(t, c.Delete("/archive/2026/empty.txt"))
			must(t, c.RemoveDir("/archive/2026"))
			must(t, c.RemoveDir("archive"))
			if names, _ := c.NameList("/"); len(names) != 0 {
				t.Fatalf("after cleanup: %v", names)
			}
			g.noIncompleteUploads(t)
		})
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func retr(t *testing.T, c *ftp.ServerConn, path string) []byte {
	t.Helper()
	r, err := c.Retr(path)
	if err != nil {
		t.Fatalf("RETR %s: %v", path, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("RETR %s: %v", path, err)
	}
	return b
}

func entryNames(es []*ftp.Entry) []string {
	var n []string
	for _, e := range es {
		if e.Name != "." && e.Name != ".." {
			n = append(n, e.Name)
		}
	}
	return n
}
