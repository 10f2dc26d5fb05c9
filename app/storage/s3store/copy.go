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
	// The recorded digests go with the copy. CopyObject copies tags; a copy
	// made of parts carries them itself; and digests that name the ETag of
	// the source's version (after a multipart upload) are tagged again with
	// the copy's.
	tags, err := s.tagsOf(ctx, src)
	if err != nil && !accessDenied(err) { // may not read tags: copy without them
		return fmt.Errorf("copy %q: %w", src, err)
	}
	sums, pinnedTo := sumsOf(tags)
	var version, etag string
	if obj.Size <= s.opts.CopyLimit {
		out, err := s.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &s.opts.Bucket, Key: &dst, CopySource: &source})
		if err != nil {
			return fmt.Errorf("copy %q to %q: %w", src, dst, classify(err))
		}
		version = aws.ToString(out.VersionId)
		if out.CopyObjectResult != nil {
			etag = aws.ToString(out.CopyObjectResult.ETag)
		}
	} else {
		head, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.opts.Bucket, Key: &src})
		if err != nil {
			return fmt.Errorf("copy %q: %w", src, classify(err))
		}
		if version, etag, err = s.copyMultipart(ctx, source, dst, aws.ToInt64(head.ContentLength), head.ETag, tags); err != nil {
			return err
		}
	}
	if pinnedTo != "" {
		s.tag(ctx, dst, version, etag, sums)
	}
	return nil
}

// copyMultipart copies source in parts, each from the version with etag,
// with tags; it returns the copy's version id and ETag.
func (s *Store) copyMultipart(ctx context.Context, source, dst string, size int64, etag *string, tags []types.Tag) (string, string, error) {
	partSize := max(s.opts.CopyPartSize, (size+MaxParts-1)/MaxParts)
	in := &s3.CreateMultipartUploadInput{Bucket: &s.opts.Bucket, Key: &dst}
	if len(tags) > 0 {
		v := url.Values{}
		for _, t := range tags {
			if aws.ToString(t.Key) != etagTag {
				v.Set(aws.ToString(t.Key), aws.ToString(t.Value))
			}
		}
		in.Tagging = aws.String(v.Encode())
	}
	out, err := s.client.CreateMultipartUpload(ctx, in)
	if err != nil {
		return "", "", fmt.Errorf("copy to %q: create multipart upload: %w", dst, classify(err))
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
			// Every part from the same version of the source: never a mix
			// of an old and a new object written meanwhile.
			CopySourceIfMatch: etag,
		})
		if err != nil {
			return "", "", fail(fmt.Errorf("copy to %q: part %d: %w", dst, num, classify(err)))
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(num), ETag: p.CopyPartResult.ETag})
	}
	done, err := s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: &s.opts.Bucket, Key: &dst, UploadId: &id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		return "", "", fail(fmt.Errorf("copy to %q: complete: %w", dst, classify(err)))
	}
	return aws.ToString(done.VersionId), aws.ToString(done.ETag), nil
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
