package nlbsim

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ftps3/ftps3/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

const (
	repoRoot = "../.."
	login    = "partner"
	password = "proof password"
	tasks    = 2
	perTask  = 4 // data ports per task
)

// sessions is how many partner sessions the healthy phase runs, six at a
// time: the 200 (about 45 s on 2 cores with the race detector);
// FTPS3_NLBSIM_SESSIONS sets another number.
func sessions() int {
	if n, err := strconv.Atoi(os.Getenv("FTPS3_NLBSIM_SESSIONS")); err == nil && n > 0 {
		return n
	}
	return 200
}

// The active-active proof: the stack synthesized with two gateway tasks,
// two hosts (network namespaces, each with the same host ports, as EC2
// hosts in bridge mode) each running the real gateway with its slot's
// environment from the template, on one MinIO, behind a forwarder that
// behaves like the template's load balancer. Partners' sessions with curl,
// lftp and ftplib, PASV and EPSV, go through it byte-exact, every data
// connection reaching the task that announced its port; then one host's
// gateway is killed mid-upload: its sessions fail, the load balancer stops
// sending to it within the template's unhealthy threshold of checks, new
// sessions succeed on the other host, and no object is partial.
func TestActiveActiveBehindTheLoadBalancer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts MinIO, two gateways and real clients")
	}
	for _, tool := range []string{"curl", "lftp", "python3", "unshare", "nsenter", "ip"} {
		p, _ := exec.LookPath(tool)
		testenv.Require(t, tool, p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	dir := t.TempDir()

	base := freePortBlock(t, 1+tasks*perTask)
	cdkContext := map[string]any{
		"publicCidrs": []any{"0.0.0.0/0"}, "gatewayTasks": tasks, "dataPortsCount": perTask, "sftpPort": 0,
		"commandPort": base, "dataPortsFirst": base + 1, "healthcheckPort": base + 20, "healthHttpPort": base + 21,
	}
	template := synthesize(t, dir, cdkContext)
	plan, err := ParsePlan(template)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Listeners) != 1+tasks*perTask {
		t.Fatalf("%d listeners in the template, want the command port and %d data ports", len(plan.Listeners), tasks*perTask)
	}
	slots := slotEnvironments(t, template)

	minio := testenv.StartMinIO(t)
	bucket := minio.NewBucket(t)
	gatewayBin := filepath.Join(dir, "ftps3")
	if out, err := exec.Command("go", "build", "-o", gatewayBin, "../../app").CombinedOutput(); err != nil {
		t.Fatalf("build the gateway: %v\n%s", err, out)
	}

	// Two hosts, each running its slot's task.
	var hosts []*host
	var targets []Namespace
	for i, env := range slots {
		h := startHost(ctx, t, i)
		if _, err := Tunnel(ctx, h.ns, "127.0.0.1:"+strings.TrimPrefix(minio.Endpoint, "http://127.0.0.1:"), strings.TrimPrefix(minio.Endpoint, "http://")); err != nil {
			t.Fatalf("host %d: S3 tunnel: %v", i, err)
		}
		env["AWS_S3_BUCKET_NAME"], env["AWS_S3_BUCKET_REGION"] = bucket, "us-east-1"
		env["AWS_ENDPOINT_URL_S3"] = minio.Endpoint
		env["AWS_AUTH_MECHANISM"], env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"] = "secret_access_key", minio.AccessKey, minio.SecretKey
		delete(env, "FTP_USERS_SECRET_ID") // no Secrets Manager here: the same user on both
		env["FTP_USERS__0__LOGIN"], env["FTP_USERS__0__PASSWORD"] = login, password
		env["HOME"] = filepath.Join(dir, fmt.Sprintf("home%d", i))
		h.startGateway(ctx, t, gatewayBin, env)
		hosts = append(hosts, h)
		targets = append(targets, h.ns)
	}

	// A template second lasts 50 ms here: a 10 s health-check interval is
	// half a second. Thresholds are the template's.
	nlb, err := Start(Options{Plan: plan, Front: "127.0.0.1", Targets: targets, Second: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer nlb.Close()
	owner := func(port int) int { return (port - (base + 1)) / perTask }
	settled := func(v View) bool {
		for _, l := range plan.Listeners {
			for target := range targets {
				want := l.Port == base || owner(l.Port) == target
				if v.Healthy(plan, l.Port, target) != want {
					return false
				}
			}
		}
		return true
	}
	if err := nlb.Wait(ctx, settled); err != nil {
		t.Fatalf("the load balancer never saw both hosts healthy on the command port and each data port's owner alone: %+v", nlb.Snapshot().Health)
	}

	// Healthy phase: partners' sessions, several at a time.
	objects := &expected{data: map[string][]byte{}}
	clients := []string{"curl", "lftp", "ftplib"}
	n := sessions()
	errs := runSessions(ctx, t, dir, base, n, 6, func(i int) (string, string, int) {
		return clients[i%3], []string{"pasv", "epsv"}[(i/3)%2], 64<<10 + i*4099
	}, "healthy", objects)
	for i, err := range errs {
		if err != nil {
			t.Errorf("session %d (%s): %v", i, clients[i%3], err)
		}
	}
	healthy := nlb.Snapshot()
	perTarget := map[string]int{}
	for _, c := range healthy.Conns {
		kind := "command"
		if c.ListenerPort != base {
			kind = "data"
			if c.Target != owner(c.ListenerPort) || c.FailOpen {
				t.Errorf("a data connection to port %d reached host %d (fail open %v), its owner is host %d", c.ListenerPort, c.Target, c.FailOpen, owner(c.ListenerPort))
			}
		}
		perTarget[fmt.Sprintf("%s to host %d", kind, c.Target)]++
	}
	t.Logf("healthy phase: %d sessions (curl, lftp, ftplib; PASV and EPSV), connections %v", n, perTarget)
	if perTarget["command to host 0"] == 0 || perTarget["command to host 1"] == 0 {
		t.Errorf("the command port did not balance over both hosts: %v", perTarget)
	}

	// Failure phase: slow uploads on both hosts; host 1's gateway is killed
	// while one of its data connections is open.
	slowMark := len(nlb.Snapshot().Conns)
	dataOpenOn := func(target int) func(View) bool {
		return func(v View) bool {
			for _, c := range v.Conns[slowMark:] {
				if c.ListenerPort != base && c.Target == target && !c.Done {
					return true
				}
			}
			return false
		}
	}
	slow := 6
	var slowErrs []error
	slowDone := make(chan struct{})
	go func() {
		defer close(slowDone)
		slowErrs = runSessions(ctx, t, dir, base, slow, slow, func(int) (string, string, int) { return "curl-slow", "epsv", 6 << 20 }, "killed", objects)
	}()
	if err := nlb.Wait(ctx, dataOpenOn(1)); err != nil {
		t.Fatal("no upload reached host 1")
	}
	commandGroup := plan.Listeners[0]
	atKill := nlb.Snapshot().Health[commandGroup.Group][1].Checks
	hosts[1].killGateway(t)
	if err := nlb.Wait(ctx, func(v View) bool { return !v.Health[commandGroup.Group][1].Healthy }); err != nil {
		t.Fatal("host 1 never became unhealthy")
	}
	checks := nlb.Snapshot().Health[commandGroup.Group][1].Checks - atKill
	// One check may have been on its way when the gateway died.
	if checks > commandGroup.Check.Unhealthy+1 {
		t.Errorf("host 1 left the command port after %d checks, want the template's %d (+1 in flight)", checks, commandGroup.Check.Unhealthy)
	}
	t.Logf("killed host 1's gateway; the load balancer marked it unhealthy after %d health checks (threshold %d, interval %s)",
		checks, commandGroup.Check.Unhealthy, commandGroup.Check.Interval)
	<-slowDone
	failed := 0
	for _, err := range slowErrs {
		if err != nil {
			failed++
		}
	}
	t.Logf("uploads in flight: %d of %d failed (those on host 1)", failed, slow)
	if failed == 0 || failed == slow {
		t.Errorf("%d of %d uploads in flight failed, want those on the killed host only", failed, slow)
	}

	// New sessions all succeed, on host 0.
	mark := len(nlb.Snapshot().Conns)
	after := 12
	errs = runSessions(ctx, t, dir, base, after, 4, func(i int) (string, string, int) {
		return clients[i%3], []string{"pasv", "epsv"}[(i/3)%2], 32<<10 + i
	}, "after", objects)
	for i, err := range errs {
		if err != nil {
			t.Errorf("after the failure, session %d (%s): %v", i, clients[i%3], err)
		}
	}
	for _, c := range nlb.Snapshot().Conns[mark:] {
		if c.Target != 0 {
			t.Errorf("after the failure, a connection to port %d reached host %d", c.ListenerPort, c.Target)
		}
	}

	// No partial object: every object is exactly what a session sent; an
	// upload cut by the kill left none.
	objects.verify(t, minio.Client(t), bucket)
}

// expected records what each session uploaded under each name.
type expected struct {
	mu   sync.Mutex
	data map[string][]byte
}

func (e *expected) put(name string, b []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.data[name] = b
}

func (e *expected) verify(t *testing.T, client *s3.Client, bucket string) {
	t.Helper()
	ctx := context.Background()
	out, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &bucket})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range out.Contents {
		key := aws.ToString(o.Key)
		want, ok := e.data[key]
		if !ok {
			t.Errorf("object %q: no session wrote it", key)
			continue
		}
		obj, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(obj.Body)
		obj.Body.Close()
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("object %q: %d bytes, want the %d its session sent (%v)", key, len(got), len(want), err)
		}
	}
	t.Logf("%d objects in the bucket, every one byte-exact", len(out.Contents))
}

// runSessions runs n sessions, parallel at a time; plan says which client,
// which passive mode and how many bytes session i uses.
func runSessions(ctx context.Context, t *testing.T, dir string, port, n, parallel int, plan func(i int) (client, mode string, size int), phase string, objects *expected) []error {
	errs := make([]error, n)
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			client, mode, size := plan(i)
			name := fmt.Sprintf("%s-%03d-%s-%s.bin", phase, i, client, mode)
			data := make([]byte, size)
			rand.Read(data)
			objects.put(name, data)
			errs[i] = session(ctx, dir, port, client, mode, name, data)
		}()
	}
	wg.Wait()
	return errs
}

// session is one partner: log in through the load balancer, upload data as
// name, download it back, compare.
func session(ctx context.Context, dir string, port int, client, mode, name string, data []byte) error {
	src := filepath.Join(dir, "up-"+name)
	dst := filepath.Join(dir, "down-"+name)
	if err := os.WriteFile(src, data, 0o600); err != nil {
		return err
	}
	defer os.Remove(src)
	defer os.Remove(dst)
	url := fmt.Sprintf("ftp://127.0.0.1:%d/%s", port, name)
	curl := []string{"-sS", "--fail", "-k", "--ssl-reqd", "--user", login + ":" + password, "--max-time", "120"}
	if mode == "pasv" {
		curl = append(curl, "--disable-epsv")
	}
	var cmd *exec.Cmd
	switch client {
	case "curl":
		args := append(append(append([]string{}, curl...), "-T", src, url, "--next"), curl...)
		cmd = exec.CommandContext(ctx, "curl", append(args, "-o", dst, url)...)
	case "curl-slow": // an upload paced so that it is in flight when a host dies
		cmd = exec.CommandContext(ctx, "curl", append(curl, "--limit-rate", "1M", "-T", src, url)...)
		dst = src
	case "lftp":
		epsv := map[string]string{"pasv": "no", "epsv": "yes"}[mode]
		script := fmt.Sprintf(`set cmd:fail-exit yes
set ssl:verify-certificate no
set ftp:ssl-force yes
set ftp:ssl-protect-data yes
set ftp:passive-mode yes
set ftp:prefer-epsv %s
set net:max-retries 1
set net:timeout 30
open -u "%s,%s" ftp://127.0.0.1:%d
put "%s" -o "%s"
get "%s" -o "%s"
bye
`, epsv, login, password, port, src, name, name, dst)
		cmd = exec.CommandContext(ctx, "lftp", "-c", script)
	case "ftplib":
		cmd = exec.CommandContext(ctx, "python3", "testdata/session.py", "127.0.0.1", strconv.Itoa(port), login, password, mode, src, name, dst)
	default:
		return fmt.Errorf("no client %q", client)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %v: %s", client, mode, err, bytes.TrimSpace(out))
	}
	got, err := os.ReadFile(dst)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, data) {
		return fmt.Errorf("%s %s: downloaded %d bytes, not the %d uploaded", client, mode, len(got), len(data))
	}
	return nil
}

// host is a simulated EC2 host: a network namespace of its own (held by a
// process that sleeps in it), where the gateway runs with the template's
// host ports.
type host struct {
	ns      Namespace
	holder  *exec.Cmd
	gateway *exec.Cmd
	log     *logTail
}

// logTail keeps a gateway's warning and error records (the last
// maxWarnings), shown when the test fails.
type logTail struct {
	mu      sync.Mutex
	partial []byte
	kept    []string
}

const maxWarnings = 200

func (l *logTail) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := string(l.partial[:i])
		l.partial = l.partial[i+1:]
		if strings.Contains(line, `"level":"WARN"`) || strings.Contains(line, `"level":"ERROR"`) ||
			strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
			l.kept = append(l.kept, line)
			if len(l.kept) > maxWarnings {
				l.kept = l.kept[1:]
			}
		}
	}
}

func (l *logTail) warnings() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.kept, "\n")
}

func startHost(ctx context.Context, t *testing.T, i int) *host {
	t.Helper()
	holder := exec.Command("unshare", "--net", "sh", "-c", "ip link set lo up && echo up && exec sleep 3600")
	out, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatalf("host %d: unshare: %v", i, err)
	}
	t.Cleanup(func() { holder.Process.Kill(); holder.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "up" {
		msg := fmt.Sprintf("host %d: a network namespace (unshare --net, as root): %q %v", i, line, err)
		if os.Getenv("FTPS3_REQUIRE_SERVICES") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return &host{ns: Namespace(fmt.Sprintf("/proc/%d/ns/net", holder.Process.Pid)), holder: holder}
}

// startGateway runs the gateway in the host's namespace and waits for its
// "serving" log line.
func (h *host) startGateway(ctx context.Context, t *testing.T, bin string, env map[string]string) {
	t.Helper()
	cmd := exec.Command("nsenter", "--net="+string(h.ns), "--", bin)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h.gateway = cmd
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		if strings.Contains(lines.Text(), `"ftps3 serving"`) {
			h.log = &logTail{}
			go io.Copy(h.log, out)
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("gateway %s, its warnings and errors:\n%s", h.ns, h.log.warnings())
				}
			})
			return
		}
	}
	cmd.Wait()
	t.Fatalf("the gateway did not start: %s", stderr.String())
}

func (h *host) killGateway(t *testing.T) {
	t.Helper()
	if err := h.gateway.Process.Kill(); err != nil {
		t.Fatal(err)
	}
}

// synthesize runs the CDK app (`go run ./infra`) with the context and
// returns the template.
func synthesize(t *testing.T, dir string, context map[string]any) []byte {
	t.Helper()
	ctxJSON, _ := json.Marshal(context)
	out := filepath.Join(dir, "cdk.out")
	cmd := exec.Command("go", "run", "./infra")
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "CDK_CONTEXT_JSON="+string(ctxJSON), "CDK_OUTDIR="+out, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("synth: %v\n%s", err, b)
	}
	template, err := os.ReadFile(filepath.Join(out, "Ftps3.template.json"))
	if err != nil {
		t.Fatal(err)
	}
	return template
}

// slotEnvironments are the task definitions' environments in slot order
// (by FTP_DATA_PORTS_FIRST), with the load balancer's name (the PASV address
// for everyone) standing for the simulated one, 127.0.0.1.
func slotEnvironments(t *testing.T, template []byte) []map[string]string {
	t.Helper()
	var tmpl struct{ Resources map[string]resource }
	if err := json.Unmarshal(template, &tmpl); err != nil {
		t.Fatal(err)
	}
	var envs []map[string]string
	for id, r := range tmpl.Resources {
		if r.Type != "AWS::ECS::TaskDefinition" {
			continue
		}
		containers, _ := r.Properties["ContainerDefinitions"].([]any)
		if len(containers) != 1 {
			t.Fatalf("%s: %d containers", id, len(containers))
		}
		env := map[string]string{}
		vars, _ := containers[0].(map[string]any)["Environment"].([]any)
		for _, v := range vars {
			kv := v.(map[string]any)
			switch value := kv["Value"].(type) {
			case string:
				env[kv["Name"].(string)] = value
			default:
				b, _ := json.Marshal(value)
				if strings.Contains(string(b), "DNSName") {
					env[kv["Name"].(string)] = "127.0.0.1" // the load balancer
				} // other references (bucket, region) are set by the test
			}
		}
		envs = append(envs, env)
	}
	if len(envs) != tasks {
		t.Fatalf("%d task definitions, want %d", len(envs), tasks)
	}
	first := func(e map[string]string) int { n, _ := strconv.Atoi(e["FTP_DATA_PORTS_FIRST"]); return n }
	if first(envs[0]) > first(envs[1]) {
		envs[0], envs[1] = envs[1], envs[0]
	}
	return envs
}

// freePortBlock finds n consecutive ports free on 127.0.0.1 for the load
// balancer's listeners.
func freePortBlock(t *testing.T, n int) int {
	t.Helper()
	for base := 30000 + os.Getpid()%500*20; base < 60000; base += 40 {
		var held []net.Listener
		ok := true
		for p := base; p < base+n; p++ {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				ok = false
				break
			}
			held = append(held, l)
		}
		for _, l := range held {
			l.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free block of ports")
	return 0
}
