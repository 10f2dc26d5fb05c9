// Package bucket is the S3 bucket the gateway stores files in: no public
// access, TLS only, encrypted, access-logged, and a lifecycle rule that
// removes incomplete multipart uploads (a backstop for the gateway's own
// aborts). Or an existing bucket, by name.
package bucket

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// Props configure the bucket.
type Props struct {
	ExistingName string // use this bucket instead of creating one
	KmsKeyArn    string // SSE-KMS with this key; empty: SSE-S3
	Versioned    bool
	// AbortIncompleteAfterDays: incomplete multipart uploads are deleted
	// this many days after they began (default 3: an upload cut after a
	// day's sending stays resumable for the gateway's 24 h window).
	AbortIncompleteAfterDays float64
}

// Bucket is the files' home.
type Bucket interface {
	constructs.Construct
	Bucket() awss3.IBucket
	Key() awskms.IKey // nil with SSE-S3
}

type bucket struct {
	constructs.Construct
	b   awss3.IBucket
	key awskms.IKey
}

func (b *bucket) Bucket() awss3.IBucket { return b.b }
func (b *bucket) Key() awskms.IKey      { return b.key }

// New creates (or looks up) the bucket.
func New(scope constructs.Construct, id string, p Props) Bucket {
	out := &bucket{}
	constructs.NewConstruct_Override(out, scope, &id)
	c := out
	if p.KmsKeyArn != "" {
		out.key = awskms.Key_FromKeyArn(c, jsii.String("Key"), &p.KmsKeyArn)
	}
	if p.ExistingName != "" {
		out.b = awss3.Bucket_FromBucketAttributes(c, jsii.String("Existing"), &awss3.BucketAttributes{
			BucketName: &p.ExistingName, EncryptionKey: out.key,
		})
		return out
	}
	if p.AbortIncompleteAfterDays == 0 {
		p.AbortIncompleteAfterDays = 3
	}
	logs := awss3.NewBucket(c, jsii.String("AccessLogs"), &awss3.BucketProps{
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		EnforceSSL:        jsii.Bool(true),
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_PREFERRED,
		RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id: jsii.String("expire-access-logs"), Expiration: awscdk.Duration_Days(jsii.Number(365)),
		}},
	})
	cdknag.NagSuppressions_AddResourceSuppressions(logs, &[]*cdknag.NagPackSuppression{{
		Id:     jsii.String("AwsSolutions-S1"),
		Reason: jsii.String("This is the access log bucket of the files bucket; logging it into itself would loop."),
	}}, jsii.Bool(true))
	props := &awss3.BucketProps{
		BlockPublicAccess:      awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:             jsii.Bool(true),
		Versioned:              jsii.Bool(p.Versioned),
		ServerAccessLogsBucket: logs,
		ServerAccessLogsPrefix: jsii.String("files/"),
		ObjectOwnership:        awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		RemovalPolicy:          awscdk.RemovalPolicy_RETAIN,
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id:                                  jsii.String("abort-incomplete-multipart-uploads"),
			AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(&p.AbortIncompleteAfterDays),
		}, {
			// The state of pending (cut, resumable) uploads: the gateway
			// deletes it when a resume commits or the window ends; this
			// catches what a lost task left.
			Id: jsii.String("expire-pending-upload-state"), Prefix: jsii.String(".ftps3/pending/"),
			Expiration: awscdk.Duration_Days(&p.AbortIncompleteAfterDays),
		}},
	}
	if out.key != nil {
		props.Encryption = awss3.BucketEncryption_KMS
		props.EncryptionKey = out.key
		props.BucketKeyEnabled = jsii.Bool(true)
	} else {
		props.Encryption = awss3.BucketEncryption_S3_MANAGED
	}
	out.b = awss3.NewBucket(c, jsii.String("Files"), props)
	return out
}
