package objfs_test

import (
	"context"
	"crypto/sha1" //nolint:gosec // test
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ftps3/ftps3/app/objfs"
	"github.com/ftps3/ftps3/app/storage"
	"github.com/ftps3/ftps3/app/storage/bufpool"
	"github.com/ftps3/ftps3/app/storage/digest"
	"github.com/ftps3/ftps3/app/storage/filestore"
	"github.com/ftps3/ftps3/app/storage/s3store"
	"github.com/ftps3/ftps3/internal/testenv"
)

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// Checksums are answered from what was recorded at upload, follow renames,
// and are never computed unless allowed: on both stores.
func TestChecksums(t *testing.T) {
	stores := map[string]func(t *testing.T) (storage.Store, func(key, data string)){
		"file": func(t *testing.T) (storage.Store, func(key, data string)) {
			dir := t.TempDir()
			s, err := filestore.New(dir, digest.SHA256, digest.MD5)
			must(t, err)
			return s, func(key, data string) { // another program writes a file
				must(t, os.WriteFile(filepath.Join(dir, key), []byte(data), 0o644))
			}
		},
		"s3": func(t *testing.T) (storage.Store, func(key, data string)) {
			m := testenv.SharedMinIO(t)
			bucket := m.NewBucket(t)
			s, err := s3store.New(m.Client(t), s3store.Options{Bucket: bucket, Pool: bufpool.New(64 << 20), PartSize: s3store.MinPartSize,
				Checksums: []digest.Algorithm{digest.SHA256, digest.MD5}})
			must(t, err)
			t.Cleanup(func() { s.Close(context.Background()) })
			return s, func(key, data string) { // another program writes an object
				_, err := m.Client(t).PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: strings.NewReader(data)})
				must(t, err)
			}
		},
	}
	for name, newStore := range stores {
		t.Run(name, func(t *testing.T) {
			s, writeByOthers := newStore(t)
			f := objfs.New(s, "/")
			v := f.View("home/", false, nil)
			must(t, v.Mkdir(ctx, "/d"))
			put(t, v, "/d/report.csv", "a,b\n1,2\n")
			got, err := v.Checksum(ctx, "/d/report.csv", digest.SHA256)
			must(t, err)
			if got != sha256Hex("a,b\n1,2\n") {
				t.Fatalf("sha256 %s, want %s", got, sha256Hex("a,b\n1,2\n"))
			}
			must(t, v.Rename(ctx, "/d/report.csv", "/d/renamed.csv"))
			if got, err := v.Checksum(ctx, "/d/../d/renamed.csv", digest.SHA256); err != nil || got != sha256Hex("a,b\n1,2\n") {
				t.Fatalf("after a rename: %s (%v)", got, err)
			}
			_, err = v.Checksum(ctx, "/d/renamed.csv", digest.SHA1) // not recorded by this store
			mustFail(t, err, objfs.ErrNoChecksum)
			_, err = v.Checksum(ctx, "/d", digest.SHA256)
			mustFail(t, err, objfs.ErrIsDir)
			_, err = v.Checksum(ctx, "/d/none", digest.SHA256)
			mustFail(t, err, fs.ErrNotExist)
			_, err = v.Checksum(ctx, "/", digest.SHA256)
			mustFail(t, err, objfs.ErrIsDir)

			// Written by another program: nothing recorded, nothing read...
			writeByOthers("home/d/foreign.bin", "from elsewhere")
			_, err = v.Checksum(ctx, "/d/foreign.bin", digest.SHA256)
			mustFail(t, err, objfs.ErrNoChecksum)
			// ...unless computing is allowed, and then within its size.
			f.SetSumOptions(objfs.SumOptions{ComputeMissing: true, MaxSize: 5, Concurrent: 1})
			_, err = v.Checksum(ctx, "/d/foreign.bin", digest.SHA256)
			mustFail(t, err, objfs.ErrNoChecksum)
			f.SetSumOptions(objfs.SumOptions{ComputeMissing: true, MaxSize: 1 << 20, Concurrent: 1})
			want := sha1.Sum([]byte("from elsewhere")) //nolint:gosec // test
			if got, err := v.Checksum(ctx, "/d/foreign.bin", digest.SHA1); err != nil || got != hex.EncodeToString(want[:]) {
				t.Fatalf("computed sha1: %s (%v), want %x", got, err, want)
			}
		})
	}
}
