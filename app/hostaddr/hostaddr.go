// Package hostaddr finds the private IPv4 address of the host a container
// runs on, for PASV replies to clients that reach the host directly (campus
// clients over Direct Connect): a container in bridge mode only sees its own
// address.
//
// It reads, in order: the ECS container metadata file (the agent writes it
// when ECS_ENABLE_CONTAINER_METADATA=true and names it in
// ECS_CONTAINER_METADATA_FILE), so the container needs no access to the
// instance metadata service, which should be blocked for containers; then
// EC2 instance metadata (IMDSv2), for installs outside ECS.
package hostaddr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
)

// MetadataFileEnv names the ECS container metadata file.
const MetadataFileEnv = "ECS_CONTAINER_METADATA_FILE"

// PrivateIPv4 returns the host's private IPv4 address.
func PrivateIPv4(ctx context.Context) (string, error) {
	if path := os.Getenv(MetadataFileEnv); path != "" {
		return fromMetadataFile(ctx, path)
	}
	return fromIMDS(ctx)
}

// fromMetadataFile reads the file until the agent marks it READY (it is
// written in steps while the container starts, usually within a second).
func fromMetadataFile(ctx context.Context, path string) (string, error) {
	for {
		data, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("ECS container metadata file: %w", err)
		}
		ip, ready, err := ParseECSMetadata(data)
		if err == nil && ready {
			return ip, nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = errors.New("not READY")
			}
			return "", fmt.Errorf("ECS container metadata file %s: %w", path, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// ParseECSMetadata reads HostPrivateIPv4Address from the ECS container
// metadata file's JSON. ready is false while the agent is still writing it
// (MetadataFileStatus is not READY): the address may be missing then.
func ParseECSMetadata(data []byte) (ip string, ready bool, err error) {
	var m struct {
		MetadataFileStatus     string
		HostPrivateIPv4Address string
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return "", false, fmt.Errorf("not the JSON of an ECS container metadata file: %w", err)
	}
	if m.MetadataFileStatus != "READY" {
		return "", false, nil
	}
	addr := net.ParseIP(m.HostPrivateIPv4Address)
	if addr == nil || addr.To4() == nil {
		return "", true, fmt.Errorf("HostPrivateIPv4Address is %q, not an IPv4 address", m.HostPrivateIPv4Address)
	}
	return addr.To4().String(), true, nil
}

// fromIMDS reads local-ipv4 through IMDSv2 (from a bridge mode container this
// needs a metadata hop limit of 2).
func fromIMDS(ctx context.Context) (string, error) {
	out, err := imds.New(imds.Options{}).GetMetadata(ctx, &imds.GetMetadataInput{Path: "local-ipv4"})
	if err != nil {
		return "", fmt.Errorf("EC2 instance metadata: %w", err)
	}
	defer out.Content.Close()
	b, err := io.ReadAll(io.LimitReader(out.Content, 64))
	if err != nil {
		return "", fmt.Errorf("EC2 instance metadata: %w", err)
	}
	ip := net.ParseIP(strings.TrimSpace(string(b)))
	if ip == nil || ip.To4() == nil {
		return "", fmt.Errorf("EC2 instance metadata: local-ipv4 is %q", b)
	}
	return ip.To4().String(), nil
}
