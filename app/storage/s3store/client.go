package s3store

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"

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

// NewClient builds an S3 client with connection reuse sized for many
// concurrent uploads.
func NewClient(ctx context.Context, o ClientOptions) (*s3.Client, error) {
	if o.MaxConns == 0 {
		o.MaxConns = 256
	}
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConns = o.MaxConns
		t.MaxIdleConnsPerHost = o.MaxConns
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
