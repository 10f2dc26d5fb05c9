package s3store

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/ftps3/ftps3/app/storage"
	"github.com/ftps3/ftps3/app/storage/digest"
)

// The digests of an upload are kept as object tags named tagPrefix+algorithm
// ("ftps3-sha256"), hex values. Tags rather than user metadata: a multipart
// upload's metadata is fixed when it is created, before its digest is known,
// and changing metadata afterwards means copying the whole object; tags are
// set after completion with one small request (and in the PutObject itself
// for single-request uploads). CopyObject copies them with the object.
const tagPrefix = "ftps3-"

// etagTag names the ETag of the version a multipart upload's tags were
// written for: another upload of the key could complete between ours and
// its tagging (on an unversioned bucket the tags would then land on that
// object); Sums trusts such tags only on the object with that ETag.
const etagTag = tagPrefix + "etag"

// tagging is the x-amz-tagging value for sums ("" for none).
func tagging(sums digest.Sums) string {
	v := url.Values{}
	for _, a := range digest.All {
		if s, ok := sums[a]; ok {
			v.Set(tagPrefix+string(a), s)
		}
	}
	return v.Encode()
}

// tag records the digests of a completed multipart upload. A failure is
// logged, not returned: the object is complete and correct, it only lacks
// the tags (a checksum question about it is then answered "not recorded").
func (s *Store) tag(ctx context.Context, key, versionID, etag string, sums digest.Sums) {
	if len(sums) == 0 || s.noTags.Load() {
		return
	}
	set := []types.Tag{{Key: aws.String(etagTag), Value: aws.String(strings.Trim(etag, `"`))}}
	for _, a := range digest.All {
		if v, ok := sums[a]; ok {
			set = append(set, types.Tag{Key: aws.String(tagPrefix + string(a)), Value: aws.String(v)})
		}
	}
	in := &s3.PutObjectTaggingInput{Bucket: &s.opts.Bucket, Key: &key, Tagging: &types.Tagging{TagSet: set}}
	if versionID != "" && versionID != "null" {
		in.VersionId = &versionID
	}
	_, err := s.client.PutObjectTagging(ctx, in)
	switch {
	case err != nil && accessDenied(err):
		s.tagsDenied(err)
	case err != nil:
		s.opts.Logger.Warn("upload stored, its checksums not recorded", "key", key, "error", classify(err))
	}
}

// tagsDenied turns tagging off for this process, once, loudly: the
// credentials lack s3:PutObjectTagging, and every upload would otherwise pay
// a refused request.
func (s *Store) tagsDenied(err error) {
	if !s.noTags.Swap(true) {
		s.opts.Logger.Warn("the credentials may not tag objects (s3:PutObjectTagging): uploads are stored without their checksums until the gateway restarts with that permission", "error", err)
	}
}

// createMultipart starts a multipart upload whose whole-object CRC32C S3
// checks at completion. A server that does not take full-object checksums
// (older S3-compatible ones) gets plain per-part CRC32C from then on: each
// part is still verified.
func (s *Store) createMultipart(ctx context.Context, key string) (id string, full bool, err error) {
	in := &s3.CreateMultipartUploadInput{Bucket: &s.opts.Bucket, Key: &key, ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c}
	if !s.noFullObject.Load() {
		in.ChecksumType = types.ChecksumTypeFullObject
		out, err := s.client.CreateMultipartUpload(ctx, in)
		if err == nil {
			// Only a server that says it took the type checks it (others
			// would check the CRC32C sent at completion as a checksum of
			// part checksums, and refuse every upload).
			return aws.ToString(out.UploadId), out.ChecksumType == types.ChecksumTypeFullObject, nil
		}
		if !refusedArgument(err) {
			return "", false, err
		}
		if !s.noFullObject.Swap(true) {
			s.opts.Logger.Warn("this S3 server refuses full-object checksums: multipart uploads are verified part by part only", "error", err)
		}
		in.ChecksumType = ""
	}
	out, err := s.client.CreateMultipartUpload(ctx, in)
	if err != nil {
		return "", false, err
	}
	return aws.ToString(out.UploadId), false, nil
}

// tagsOf reads an object's tags (also for copies, which must carry them).
func (s *Store) tagsOf(ctx context.Context, key string) ([]types.Tag, error) {
	out, err := s.client.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: &s.opts.Bucket, Key: &key})
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("tags of %q: %w", key, storage.ErrNotExist)
		}
		return nil, fmt.Errorf("tags of %q: %w", key, classify(err))
	}
	return out.TagSet, nil
}

// Sums implements storage.Summer: the digests recorded in the object's tags,
// and, when those lack a SHA-256, S3's own checksum of the object if it is a
// SHA-256 of the whole content (a single PutObject sent with one; not a
// multipart object's checksum of part checksums).
func (s *Store) Sums(ctx context.Context, key string) (digest.Sums, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	tags, err := s.tagsOf(ctx, key)
	if err != nil && !accessDenied(err) { // may not read tags: S3's own checksum may still tell
		return nil, err
	}
	sums, etag := sumsOf(tags)
	if _, ok := sums[digest.SHA256]; ok && etag == "" {
		return sums, nil // set with the object itself (a single PutObject)
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: &s.opts.Bucket, Key: &key, ChecksumMode: types.ChecksumModeEnabled,
	})
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("sums of %q: %w", key, storage.ErrNotExist)
		}
		return nil, fmt.Errorf("sums of %q: %w", key, classify(err))
	}
	if etag != "" && etag != strings.Trim(aws.ToString(out.ETag), `"`) {
		s.opts.Logger.Warn("checksum tags written for another version of the object: ignored", "key", key)
		sums = digest.Sums{}
	}
	if _, ok := sums[digest.SHA256]; !ok {
		if v := wholeSHA256(out); v != "" {
			sums[digest.SHA256] = v
		}
	}
	return sums, nil
}

// sumsOf reads the recorded digests from an object's tags, and the ETag
// they are pinned to ("" for tags set with the object itself).
func sumsOf(tags []types.Tag) (sums digest.Sums, etag string) {
	sums = digest.Sums{}
	for _, t := range tags {
		k, v := aws.ToString(t.Key), aws.ToString(t.Value)
		if k == etagTag {
			etag = v
		} else if a, ok := strings.CutPrefix(k, tagPrefix); ok && digest.Valid(digest.Algorithm(a), v) {
			sums[digest.Algorithm(a)] = v
		}
	}
	return sums, etag
}

// wholeSHA256 is the object's SHA-256 as S3 keeps it, if that is a digest of
// the whole content: a full-object checksum, or (from servers that do not
// say the type) one without a part count on an object that is not multipart.
func wholeSHA256(out *s3.HeadObjectOutput) string {
	v := aws.ToString(out.ChecksumSHA256)
	if v == "" || strings.Contains(v, "-") {
		return ""
	}
	switch out.ChecksumType {
	case types.ChecksumTypeFullObject:
	case "":
		if strings.Contains(aws.ToString(out.ETag), "-") {
			return ""
		}
	default:
		return ""
	}
	raw, err := base64.StdEncoding.DecodeString(v)
	if err != nil || len(raw) != 32 {
		return ""
	}
	return hex.EncodeToString(raw)
}
