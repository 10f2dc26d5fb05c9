package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// The SFTP rows: the same measures as FTPS, with OpenSSH's sftp (batch mode,
// key login) as the client, against the S3 gateway.

// sftpKeys makes the bench user's key pair.
func (b *bench) sftpKeys() {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	check(err)
	block, err := ssh.MarshalPrivateKey(priv, "bench")
	check(err)
	b.sftpKey = filepath.Join(b.dir, "id_ed25519")
	check(os.WriteFile(b.sftpKey, pem.EncodeToMemory(block), 0o600))
	sp, err := ssh.NewPublicKey(pub)
	check(err)
	b.sftpPub = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp)))
}

// sftpBatch runs OpenSSH's sftp with these batch commands.
func (b *bench) sftpBatch(commands string) error {
	f, err := os.CreateTemp(b.dir, "batch-*")
	if err != nil {
		return err
	}
	f.WriteString(commands)
	f.Close()
	defer os.Remove(f.Name())
	cmd := exec.Command("sftp", "-F", "/dev/null", "-q", "-P", fmt.Sprint(b.sftpS3), "-i", b.sftpKey,
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "IdentitiesOnly=yes",
		"-o", "LogLevel=ERROR", "-b", f.Name(), user+"@127.0.0.1")
	cmd.Dir = b.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("sftp: %v: %s", err, out)
	}
	return nil
}

func (b *bench) sftpSingleFile(size int64, rounds int) {
	log.Printf("sftp single file: %d MiB × %d rounds", size>>20, rounds)
	path, sum := b.randomFile("sftp-big.bin", size)
	defer os.Remove(path)
	var up, direct, cpuUp, down, directDown, cpuDown []float64
	b.gwS3.resetPeakRSS()
	for r := 0; r < rounds; r++ {
		key := fmt.Sprintf("sftp-up-%d.bin", r)
		cpu0, t0 := b.gwS3.cpuSeconds(), time.Now()
		check(b.sftpBatch(fmt.Sprintf("put %s %s\n", path, key)))
		up = append(up, float64(size)/mib/time.Since(t0).Seconds())
		cpuUp = append(cpuUp, (b.gwS3.cpuSeconds()-cpu0)/(float64(size)/(1<<30)))
		b.verify(key, sum)
		t0 = time.Now()
		check(b.directUpload(path, "sftp-direct.bin"))
		direct = append(direct, float64(size)/mib/time.Since(t0).Seconds())
		b.deleteKeys("sftp-direct.bin")
	}
	rssUp := b.gwS3.peakRSS()
	b.gwS3.resetPeakRSS()
	for r := 0; r < rounds; r++ {
		cpu0, t0 := b.gwS3.cpuSeconds(), time.Now()
		check(b.sftpBatch("get sftp-up-0.bin /dev/null\n"))
		down = append(down, float64(size)/mib/time.Since(t0).Seconds())
		cpuDown = append(cpuDown, (b.gwS3.cpuSeconds()-cpu0)/(float64(size)/(1<<30)))
		t0 = time.Now()
		check(b.directDownload("sftp-up-0.bin"))
		directDown = append(directDown, float64(size)/mib/time.Since(t0).Seconds())
	}
	rssDown := b.gwS3.peakRSS()
	for r := 0; r < rounds; r++ {
		b.deleteKeys(fmt.Sprintf("sftp-up-%d.bin", r))
	}
	mu, md, mdd, mdn := median(up), median(direct), median(directDown), median(down)
	b.row(fmt.Sprintf("SFTP upload %d MiB: sftp → gateway → S3", size>>20), fmt.Sprintf("%.0f MiB/s", mu), "")
	b.row("SFTP upload ratio gateway/direct (SDK, same rounds)", fmt.Sprintf("%.2f (direct %.0f MiB/s)", mu/md, md), "≥ 0.90")
	b.row(fmt.Sprintf("SFTP download %d MiB: gateway from S3", size>>20), fmt.Sprintf("%.0f MiB/s", mdn), "")
	b.row("SFTP download ratio gateway/direct SDK GET", fmt.Sprintf("%.2f (direct %.0f MiB/s)", mdn/mdd, mdd), "")
	b.row("SFTP gateway CPU per GiB uploaded / downloaded", fmt.Sprintf("%.2f / %.2f s", median(cpuUp), median(cpuDown)), "≤ 1.0 s")
	b.row("SFTP gateway peak RSS, single upload / download", fmt.Sprintf("%.0f / %.0f MiB", rssUp, rssDown), "")
	b.results["sftp_single_file"] = map[string]any{"size_mib": size >> 20, "rounds": rounds,
		"upload_gateway_mibps": up, "upload_direct_mibps": direct, "upload_ratio": mu / md,
		"download_gateway_mibps": down, "download_direct_mibps": directDown,
		"cpu_s_per_gib_up": cpuUp, "cpu_s_per_gib_down": cpuDown, "peak_rss_mib_up": rssUp, "peak_rss_mib_down": rssDown}
}

func (b *bench) sftpConcurrent(n int, size, limit int64) {
	log.Printf("sftp concurrency: %d uploads of %d MiB", n, size>>20)
	path, sum := b.randomFile("sftp-conc.bin", size)
	defer os.Remove(path)
	r := b.uploadAtOnce(n, sum, func(i int) string { return fmt.Sprintf("sftp-conc-%d-%03d.bin", n, i) },
		func(key string) error { return b.sftpBatch(fmt.Sprintf("put %s %s\n", path, key)) })
	failed, bad, wall, rss := r.failed, r.bad, r.wall, r.rss
	agg := float64(n) * float64(size) / mib / wall
	b.row(fmt.Sprintf("SFTP %d concurrent uploads of %d MiB: aggregate", n, size>>20), fmt.Sprintf("%.0f MiB/s, %d failed, %d bad sha256", agg, failed, bad), "0 failed")
	b.row(fmt.Sprintf("SFTP %d concurrent uploads: gateway peak RSS", n), fmt.Sprintf("%.0f MiB", rss), fmt.Sprintf("≤ %.0f MiB (64 + 12/upload)", 64+12*float64(n)))
	b.results[fmt.Sprintf("sftp_concurrent_%d", n)] = map[string]any{"uploads": n, "size_mib": size >> 20, "aggregate_mibps": agg,
		"failed": failed, "bad_sha256": bad, "peak_rss_mib": rss, "wall_s": wall, "memory_limit_mib": limit >> 20}
}

// sftpSmallFiles: n files of 1 KiB put in one session (each one an OPEN,
// a WRITE and a CLOSE that commits to S3).
func (b *bench) sftpSmallFiles(n int) {
	log.Printf("sftp small files: %d", n)
	dir := filepath.Join(b.dir, "small")
	check(os.MkdirAll(dir, 0o755))
	var cmds strings.Builder
	cmds.WriteString("mkdir small\n")
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("f%05d.txt", i)
		check(os.WriteFile(filepath.Join(dir, name), []byte(strings.Repeat("x", 1024)), 0o644))
		fmt.Fprintf(&cmds, "put small/%s small/%s\n", name, name)
	}
	t0 := time.Now()
	check(b.sftpBatch(cmds.String()))
	rate := float64(n) / time.Since(t0).Seconds()
	b.row(fmt.Sprintf("SFTP small files (1 KiB, %d in one session)", n), fmt.Sprintf("%.0f files/s", rate), "")
	b.results["sftp_small_files"] = map[string]any{"files": n, "files_per_s": rate}
}
