// Package nlbsim is a small TCP forwarder that behaves like the Network Load
// Balancer of a synthesized ftps3 template, for local proofs of the
// active-active design: a listener per port of the template, each
// forwarding to its target group's targets, health-checked as the template
// says (TCP, or HTTP with a path and the codes that count as healthy, the
// interval and the healthy/unhealthy thresholds), forwarding only to healthy
// targets (and to all when none is, as an NLB fails open), keeping the
// client's address as far as loopback allows.
//
// A target is a host: a network namespace (Linux) in which the gateway runs
// with the template's own port plan, as each EC2 host runs one task with the
// same host ports. The forwarder creates its sockets to a target inside that
// target's namespace.
package nlbsim

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// HealthCheck is a target group's health check, as the template sets it.
type HealthCheck struct {
	Protocol           string // TCP or HTTP
	Port               int    // on the target
	Path               string // HTTP
	Codes              string // HTTP: "200", "200-399", "200,202"
	Interval           time.Duration
	Timeout            time.Duration
	Healthy, Unhealthy int // consecutive results that change the state
}

// Listener is a listener and its target group.
type Listener struct {
	Port       int    // the load balancer's port
	TargetPort int    // the target group's port
	Group      string // the target group's logical id
	Check      HealthCheck
}

// Plan is the load balancer of a template: its listeners, by port.
type Plan struct {
	Listeners []Listener
}

// Listener returns the listener on port.
func (p Plan) Listener(port int) (Listener, bool) {
	for _, l := range p.Listeners {
		if l.Port == port {
			return l, true
		}
	}
	return Listener{}, false
}

type resource struct {
	Type       string
	Properties map[string]any
}

// ParsePlan reads the listeners and target groups of a CloudFormation
// template (JSON). Defaults are the NLB's where the template leaves a
// setting out (interval 30 s; timeout 10 s for TCP, 6 s for HTTP;
// thresholds 5 and 2; HTTP codes 200-399).
func ParsePlan(template []byte) (Plan, error) {
	var t struct{ Resources map[string]resource }
	if err := json.Unmarshal(template, &t); err != nil {
		return Plan{}, fmt.Errorf("template: %w", err)
	}
	var p Plan
	ids := make([]string, 0, len(t.Resources))
	for id := range t.Resources {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		r := t.Resources[id]
		if r.Type != "AWS::ElasticLoadBalancingV2::Listener" {
			continue
		}
		port, err := number(r.Properties["Port"])
		if err != nil {
			return Plan{}, fmt.Errorf("listener %s: Port: %w", id, err)
		}
		actions, _ := r.Properties["DefaultActions"].([]any)
		if len(actions) != 1 {
			return Plan{}, fmt.Errorf("listener %s: %d default actions, want one forward", id, len(actions))
		}
		action, _ := actions[0].(map[string]any)
		ref, _ := action["TargetGroupArn"].(map[string]any)
		group, _ := ref["Ref"].(string)
		if action["Type"] != "forward" || group == "" {
			return Plan{}, fmt.Errorf("listener %s: the default action is not a forward to a target group of the template", id)
		}
		tg, ok := t.Resources[group]
		if !ok || tg.Type != "AWS::ElasticLoadBalancingV2::TargetGroup" {
			return Plan{}, fmt.Errorf("listener %s: target group %s is not in the template", id, group)
		}
		l, err := listener(port, group, tg.Properties)
		if err != nil {
			return Plan{}, fmt.Errorf("target group %s: %w", group, err)
		}
		p.Listeners = append(p.Listeners, l)
	}
	if len(p.Listeners) == 0 {
		return Plan{}, fmt.Errorf("template: no load balancer listener")
	}
	sort.Slice(p.Listeners, func(i, j int) bool { return p.Listeners[i].Port < p.Listeners[j].Port })
	return p, nil
}

func listener(port int, group string, tg map[string]any) (Listener, error) {
	l := Listener{Port: port, Group: group}
	var err error
	if l.TargetPort, err = number(tg["Port"]); err != nil {
		return l, fmt.Errorf("Port: %w", err)
	}
	if tt, _ := tg["TargetType"].(string); tt != "instance" {
		return l, fmt.Errorf("TargetType %q: only instance targets are simulated", tt)
	}
	c := HealthCheck{Protocol: "TCP", Port: l.TargetPort, Codes: "200-399", Interval: 30 * time.Second, Healthy: 5, Unhealthy: 2}
	if v, ok := tg["HealthCheckProtocol"].(string); ok {
		c.Protocol = v
	}
	if v, ok := tg["HealthCheckPort"]; ok && v != "traffic-port" {
		if c.Port, err = number(v); err != nil {
			return l, fmt.Errorf("HealthCheckPort: %w", err)
		}
	}
	c.Timeout = 10 * time.Second
	if c.Protocol == "HTTP" {
		c.Timeout = 6 * time.Second
		c.Path = "/"
	}
	if v, ok := tg["HealthCheckPath"].(string); ok {
		c.Path = v
	}
	if m, ok := tg["Matcher"].(map[string]any); ok {
		if v, ok := m["HttpCode"].(string); ok {
			c.Codes = v
		}
	}
	for key, dst := range map[string]*int{"HealthyThresholdCount": &c.Healthy, "UnhealthyThresholdCount": &c.Unhealthy} {
		if v, ok := tg[key]; ok {
			if *dst, err = number(v); err != nil {
				return l, fmt.Errorf("%s: %w", key, err)
			}
		}
	}
	for key, dst := range map[string]*time.Duration{"HealthCheckIntervalSeconds": &c.Interval, "HealthCheckTimeoutSeconds": &c.Timeout} {
		if v, ok := tg[key]; ok {
			n, err := number(v)
			if err != nil {
				return l, fmt.Errorf("%s: %w", key, err)
			}
			*dst = time.Duration(n) * time.Second
		}
	}
	switch c.Protocol {
	case "TCP", "HTTP":
	default:
		return l, fmt.Errorf("HealthCheckProtocol %q is not simulated", c.Protocol)
	}
	l.Check = c
	return l, nil
}

// codeMatches reports whether an HTTP status is among codes ("200",
// "200-399", "200,202").
func codeMatches(codes string, status int) bool {
	for _, part := range strings.Split(codes, ",") {
		lo, hi, found := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			continue
		}
		b := a
		if found {
			if b, err = strconv.Atoi(hi); err != nil {
				continue
			}
		}
		if status >= a && status <= b {
			return true
		}
	}
	return false
}

func number(v any) (int, error) {
	switch v := v.(type) {
	case float64:
		return int(v), nil
	case string:
		return strconv.Atoi(v)
	}
	return 0, fmt.Errorf("%v is not a number", v)
}
