package s3store

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// ClientOptions say how to reach the S3 endpoint.
type ClientOptions struct {
	Region string
	// Endpoint is a base URL for S3-compatible servers ("" for AWS).
	Endpoint  string
	PathStyle bool
	// AccessKeyID and SecretAccessKey, when set, replace the default
	// credential chain (environment, ECS task role, instance profile, ...).
	AccessKeyID, SecretAccessKey string
	// InsecureSkipVerify turns off certificate checks (test servers only).
	InsecureSkipVerify bool
	// MaxConns is the connection pool size per host (default 256).
	MaxConns int
}

// bigWriteConn sends request bodies without net/http's 32 KiB copy loop.
// net/http hands the connection the body as an io.LimitedReader (the
// Content-Length); when the reader inside can write itself out (a part
// buffer's bytes.Reader can), the part goes to the socket straight from its
// buffer, capped at the limit so not one byte more than the declared length
// is ever sent. Other bodies are copied in 256 KiB writes.
type bigWriteConn struct{ net.Conn }

func (c bigWriteConn) ReadFrom(r io.Reader) (int64, error) {
	if lr, ok := r.(*io.LimitedReader); ok {
		if wt, ok := lr.R.(io.WriterTo); ok {
			n, err := wt.WriteTo(&cappedWriter{w: c.Conn, left: lr.N})
			lr.N -= n
			return n, err
		}
	}
	bp := writeBufs.Get().(*[]byte)
	defer writeBufs.Put(bp)
	return io.CopyBuffer(struct{ io.Writer }{c.Conn}, r, *bp)
}

// cappedWriter writes at most left bytes.
type cappedWriter struct {
	w    io.Writer
	left int64
}

var errBodyTooLong = errors.New("request body longer than its Content-Length")

func (c *cappedWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > c.left {
		n, err := c.w.Write(p[:c.left])
		c.left -= int64(n)
		if err == nil {
			err = errBodyTooLong
		}
		return n, err
	}
	n, err := c.w.Write(p)
	c.left -= int64(n)
	return n, err
}

var writeBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// NewClient builds an S3 client with connection reuse sized for many
// concurrent uploads.
func NewClient(ctx context.Context, o ClientOptions) (*s3.Client, error) {
	if o.MaxConns == 0 {
		o.MaxConns = 256
	}
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConns = o.MaxConns
		t.MaxIdleConnsPerHost = o.MaxConns
		dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
		t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return bigWriteConn{c}, nil
		}
		t.WriteBufferSize = 64 << 10
		t.ReadBufferSize = 64 << 10
		if o.InsecureSkipVerify {
			if t.TLSClientConfig == nil {
				t.TLSClientConfig = &tls.Config{}
			}
			t.TLSClientConfig.InsecureSkipVerify = true //nolint:gosec // asked for by configuration
		}
	})
	loads := []func(*config.LoadOptions) error{config.WithHTTPClient(httpClient)}
	if o.Region != "" {
		loads = append(loads, config.WithRegion(o.Region))
	}
	if o.AccessKeyID != "" {
		loads = append(loads, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(o.AccessKeyID, o.SecretAccessKey, "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loads...)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	return s3.NewFromConfig(cfg, func(so *s3.Options) {
		if o.Endpoint != "" {
			so.BaseEndpoint = aws.String(o.Endpoint)
		}
		so.UsePathStyle = o.PathStyle
		// Checksums are computed by the upload code itself; responses are
		// streamed to clients and not validated twice.
		so.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		so.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	}), nil
}
