package s3store

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Copy implements storage.Store: CopyObject up to 5 GiB, UploadPartCopy
// beyond (CopyObject refuses larger sources).
func (s *Store) Copy(ctx context.Context, src, dst string) error {
	if err := checkKey(dst); err != nil {
		return err
	}
	obj, err := s.Stat(ctx, src)
	if err != nil {
		return fmt.Errorf("copy %q: %w", src, classify(err))
	}
	source := copySource(s.opts.Bucket, src)
	if obj.Size <= s.opts.CopyLimit {
		_, err := s.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &s.opts.Bucket, Key: &dst, CopySource: &source})
		if err != nil {
			return fmt.Errorf("copy %q to %q: %w", src, dst, classify(err))
		}
		return nil
	}
	return s.copyMultipart(ctx, src, source, dst, obj.Size)
}

func (s *Store) copyMultipart(ctx context.Context, src, source, dst string, size int64) error {
	partSize := max(s.opts.CopyPartSize, (size+MaxParts-1)/MaxParts)
	// CopyObject copies the tags (the recorded digests); a copy made of
	// parts must carry them itself.
	tags, err := s.tagsOf(ctx, src)
	if err != nil {
		return fmt.Errorf("copy %q: %w", src, err)
	}
	in := &s3.CreateMultipartUploadInput{Bucket: &s.opts.Bucket, Key: &dst}
	if len(tags) > 0 {
		v := url.Values{}
		for _, t := range tags {
			v.Set(aws.ToString(t.Key), aws.ToString(t.Value))
		}
		in.Tagging = aws.String(v.Encode())
	}
	out, err := s.client.CreateMultipartUpload(ctx, in)
	if err != nil {
		return fmt.Errorf("copy to %q: create multipart upload: %w", dst, classify(err))
	}
	id := aws.ToString(out.UploadId)
	fail := func(err error) error {
		_ = s.aborter.abort(dst, id) // retried in the background if need be
		return err
	}
	var parts []types.CompletedPart
	for num, off := int32(1), int64(0); off < size; num, off = num+1, off+partSize {
		end := min(off+partSize, size) - 1
		p, err := s.client.UploadPartCopy(ctx, &s3.UploadPartCopyInput{
			Bucket: &s.opts.Bucket, Key: &dst, UploadId: &id, PartNumber: aws.Int32(num),
			CopySource: &source, CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", off, end)),
		})
		if err != nil {
			return fail(fmt.Errorf("copy to %q: part %d: %w", dst, num, classify(err)))
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(num), ETag: p.CopyPartResult.ETag})
	}
	_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: &s.opts.Bucket, Key: &dst, UploadId: &id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		return fail(fmt.Errorf("copy to %q: complete: %w", dst, classify(err)))
	}
	return nil
}

// copySource is the x-amz-copy-source value: bucket/key with every byte of
// the key percent-encoded except unreserved characters and "/".
func copySource(bucket, key string) string {
	var b strings.Builder
	b.WriteString(bucket)
	b.WriteByte('/')
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '.', c == '~', c == '/':
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}
