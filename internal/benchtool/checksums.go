package main

import (
	"fmt"
	"log"
	"os"
	"time"
)

// sumGateway is an S3 gateway started with another CHECKSUMS setting.
type sumGateway struct {
	checksums string
	port      int
	proc      *proc
}

// checksumCost: the same upload through gateways that record no checksum,
// SHA-256 (the default: the main S3 gateway) and all three, alternating
// with the direct SDK upload, with each gateway's CPU time per GiB.
func (b *bench) checksumCost(size int64, rounds int) {
	log.Printf("checksum cost: %d MiB × %d rounds", size>>20, rounds)
	path, sum := b.randomFile("sums.bin", size)
	defer os.Remove(path)
	type setting struct {
		name string
		port int
		proc *proc
	}
	settings := []setting{{"off", b.sumGateways[0].port, b.sumGateways[0].proc}, {"sha256 (default)", b.portS3, b.gwS3},
		{"sha256,sha1,md5", b.sumGateways[1].port, b.sumGateways[1].proc}}
	speed, cpu := make([][]float64, len(settings)), make([][]float64, len(settings))
	var direct []float64
	for r := 0; r < rounds; r++ {
		for i, s := range settings {
			key := fmt.Sprintf("sums-%d-%d.bin", i, r)
			cpu0, t0 := s.proc.cpuSeconds(), time.Now()
			check(b.curl(s.port, "-T", path, url(s.port, key)))
			speed[i] = append(speed[i], float64(size)/mib/time.Since(t0).Seconds())
			cpu[i] = append(cpu[i], (s.proc.cpuSeconds()-cpu0)/(float64(size)/(1<<30)))
			b.verify(key, sum)
			b.deleteKeys(key)
		}
		t0 := time.Now()
		check(b.directUpload(path, "sums-direct.bin"))
		direct = append(direct, float64(size)/mib/time.Since(t0).Seconds())
		b.deleteKeys("sums-direct.bin")
	}
	d := median(direct)
	res := map[string]any{"direct_mibps": direct}
	for i, s := range settings {
		target := ""
		if i == 1 {
			target = "≥ 0.75× direct"
		}
		b.row(fmt.Sprintf("upload %d MiB, CHECKSUMS=%s: speed, ratio, CPU/GiB", size>>20, s.name),
			fmt.Sprintf("%.0f MiB/s, %.2f×, %.2f s", median(speed[i]), median(speed[i])/d, median(cpu[i])), target)
		res[s.name] = map[string]any{"mibps": speed[i], "ratio": median(speed[i]) / d, "cpu_s_per_gib": cpu[i]}
	}
	b.results["checksums"] = res
}
