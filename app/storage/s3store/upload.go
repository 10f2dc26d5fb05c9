package s3store

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/ftps3/ftps3/app/storage"
	"github.com/ftps3/ftps3/app/storage/digest"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// unsignedPayload skips the SHA-256 of each part body that SigV4 would
// otherwise compute: the CRC32C checksum header, which S3 verifies, guards the
// bytes instead, at a fraction of the CPU.
var unsignedPayload = s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)

// PartSize is the size of part number n (1-based) for a first part size of
// base: it doubles every 1000 parts, up to S3's 5 GiB.
func PartSize(base int64, n int32) int64 {
	size := base << ((n - 1) / partsPerSizeStep)
	if size > MaxPartSize || size <= 0 {
		return MaxPartSize
	}
	return size
}

// upload streams one object. Write fills a part buffer; a full buffer is sent
// as an UploadPart in the background while the next one fills. The multipart
// upload is only created once the first part is full, so small files take a
// single PutObject.
//
// As the bytes arrive they are hashed twice: the digests the store records
// (sums), and a CRC32C of the whole object that S3 checks on completion
// (full), so that bytes changed between the client and S3, even inside this
// process, make the upload fail rather than store a wrong object.
type upload struct {
	s   *Store
	key string

	sums *digest.Hasher // nil when no digests are recorded
	full hash.Hash32    // CRC32C of everything written
	part hash.Hash32    // CRC32C of the part being filled

	ctx    context.Context // cancelled by Abort or by a failed part
	cancel context.CancelFunc

	buf     []byte // part being filled
	fill    int
	nextNum int32 // number of the part being filled
	written int64

	uploadID   string
	fullObject bool          // S3 checks the whole object's CRC32C at completion
	inFlight   atomic.Int32  // parts being sent
	partDone   chan struct{} // a part finished (capacity 1)

	mu        sync.Mutex
	parts     []types.CompletedPart
	partSizes map[int32]int64     // bytes of each part in parts
	snaps     map[int32]*snapshot // hashing state at the end of each part (resume.go)
	resumed   *resumedFrom        // set when this continues a pending upload
	noKeep    bool                // never kept for resuming (NoKeep)
	base      int64               // where this upload's own bytes start (a resume's offset)
	err       error               // first error of a part
	wg        sync.WaitGroup

	finished bool // committed or aborted
}

// Create implements storage.Store.
func (s *Store) Create(ctx context.Context, key string) (storage.Upload, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	uctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	return &upload{
		s: s, key: key, ctx: uctx, cancel: cancel, nextNum: 1,
		partDone: make(chan struct{}, 1),
		sums:     digest.New(s.opts.Checksums), full: crc32.New(castagnoli), part: crc32.New(castagnoli),
		partSizes: map[int32]int64{}, snaps: map[int32]*snapshot{},
	}, nil
}

func (u *upload) Written() int64 { return u.written }

func (u *upload) Write(p []byte) (int, error) {
	if u.finished {
		return 0, storage.ErrAborted
	}
	total := 0
	for len(p) > 0 {
		if err := u.partErr(); err != nil {
			return total, err
		}
		if u.buf == nil {
			if err := u.nextBuf(); err != nil {
				return total, err
			}
		}
		n := copy(u.buf[u.fill:], p)
		u.hash(u.buf[u.fill : u.fill+n])
		u.fill += n
		u.written += int64(n)
		total += n
		p = p[n:]
		if u.fill == len(u.buf) {
			if err := u.sendPart(); err != nil {
				return total, err
			}
		}
	}
	return total, nil
}

// ReadFrom reads r into the part buffers directly, saving the copy through
// io.Copy's buffer. It returns nil at r's EOF.
func (u *upload) ReadFrom(r io.Reader) (int64, error) {
	var total int64
	for {
		if u.finished {
			return total, storage.ErrAborted
		}
		if err := u.partErr(); err != nil {
			return total, err
		}
		if u.buf == nil {
			if err := u.nextBuf(); err != nil {
				return total, err
			}
		}
		n, rerr := r.Read(u.buf[u.fill:])
		u.hash(u.buf[u.fill : u.fill+n])
		u.fill += n
		u.written += int64(n)
		total += int64(n)
		if u.fill == len(u.buf) {
			if err := u.sendPart(); err != nil {
				return total, err
			}
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

// hash adds bytes just received to the digests.
func (u *upload) hash(p []byte) {
	u.sums.Write(p)
	u.full.Write(p)
	u.part.Write(p)
}

// beforeSend, when set (by tests), sees each body just before it is sent:
// the bytes are hashed by then, so a change made here is a corruption S3
// must catch.
var beforeSend func(body []byte)

func sending(body []byte) {
	if beforeSend != nil {
		beforeSend(body)
	}
}

// Sums implements storage.SummedUpload.
func (u *upload) Sums() digest.Sums { return u.sums.Sums() }

func (u *upload) nextBuf() error {
	if u.nextNum > MaxParts {
		return fmt.Errorf("upload %q: more than %d parts: object too large for S3", u.key, MaxParts)
	}
	buf, err := u.s.opts.Pool.Get(u.ctx, int(PartSize(u.s.opts.PartSize, u.nextNum)))
	if err != nil {
		if perr := u.partErr(); perr != nil {
			return perr
		}
		return fmt.Errorf("upload %q: %w", u.key, err)
	}
	u.buf, u.fill = buf, 0
	return nil
}

// sendPart hands the filled buffer to a background UploadPart.
func (u *upload) sendPart() error {
	if u.uploadID == "" {
		id, full, err := u.s.createMultipart(u.ctx, u.key)
		if err != nil {
			return fmt.Errorf("upload %q: create multipart upload: %w", u.key, classify(err))
		}
		u.uploadID, u.fullObject = id, full
	}
	// BuffersPerUpload-1 parts may always be in flight; up to
	// MaxBuffersPerUpload-1 while the pool has spare memory for the next
	// buffer. Otherwise wait for a part to finish: the client is then
	// slowed down by TCP, and memory stays bounded.
	guaranteed, most := int32(u.s.opts.BuffersPerUpload-1), int32(u.s.opts.MaxBuffersPerUpload-1)
	nextSize := PartSize(u.s.opts.PartSize, u.nextNum+1)
	for {
		n := u.inFlight.Load()
		if n < guaranteed || (n < most && u.s.opts.Pool.Spare(nextSize)) {
			break
		}
		select {
		case <-u.partDone:
		case <-u.ctx.Done():
			if err := u.partErr(); err != nil {
				return err
			}
			return fmt.Errorf("upload %q: %w", u.key, storage.ErrAborted)
		}
	}
	num, buf, data := u.nextNum, u.buf, u.buf[:u.fill]
	// The part's CRC32C as its bytes arrived, not as they are when sent.
	sum := crcString(u.part.Sum32())
	u.part.Reset()
	if u.s.opts.ResumeWindow > 0 {
		u.saveSnapshot(num, int64(len(data))) // resume.go
	}
	u.buf, u.fill = nil, 0
	u.nextNum++
	u.inFlight.Add(1)
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		defer func() {
			u.inFlight.Add(-1)
			select {
			case u.partDone <- struct{}{}:
			default:
			}
		}()
		defer u.s.opts.Pool.Put(buf)
		sending(data)
		out, err := u.s.client.UploadPart(u.ctx, &s3.UploadPartInput{
			Bucket: &u.s.opts.Bucket, Key: &u.key, UploadId: &u.uploadID,
			PartNumber: aws.Int32(num), Body: bytes.NewReader(data),
			ContentLength:     aws.Int64(int64(len(data))),
			ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c, ChecksumCRC32C: &sum,
		}, unsignedPayload)
		u.mu.Lock()
		defer u.mu.Unlock()
		if err != nil {
			if u.err == nil {
				u.err = fmt.Errorf("upload %q: part %d: %w", u.key, num, classify(err))
			}
			u.cancel()
			return
		}
		u.parts = append(u.parts, types.CompletedPart{PartNumber: aws.Int32(num), ETag: out.ETag, ChecksumCRC32C: &sum})
		u.partSizes[num] = int64(len(data))
	}()
	return nil
}

func (u *upload) partErr() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.err
}

// Commit implements storage.Upload.
func (u *upload) Commit(ctx context.Context) error {
	if u.finished {
		return storage.ErrAborted
	}
	if err := u.commit(ctx); err != nil {
		_ = u.Abort(ctx)
		return err
	}
	u.finished = true
	u.cancel()
	// A new upload of the name replaces a pending one: Pending and Resume
	// see that the object is newer than the cut (resume.go), at no cost to
	// uploads.
	if u.resumed != nil {
		u.s.deleteState(ctx, u.key, "")
	}
	return nil
}

func (u *upload) commit(ctx context.Context) error {
	if u.uploadID == "" {
		var data []byte
		if u.buf != nil {
			data = u.buf[:u.fill]
		}
		in := &s3.PutObjectInput{
			Bucket: &u.s.opts.Bucket, Key: &u.key, Body: bytes.NewReader(data),
			ContentLength: aws.Int64(int64(len(data))),
		}
		// S3 checks the file's own SHA-256 when there is one, and keeps it
		// as the object's checksum; otherwise the CRC32C of the stream.
		if raw, ok := u.sums.Raw(digest.SHA256); ok {
			in.ChecksumAlgorithm, in.ChecksumSHA256 = types.ChecksumAlgorithmSha256, aws.String(base64.StdEncoding.EncodeToString(raw))
		} else {
			in.ChecksumAlgorithm, in.ChecksumCRC32C = types.ChecksumAlgorithmCrc32c, aws.String(crcString(u.full.Sum32()))
		}
		if tags := tagging(u.sums.Sums()); tags != "" && !u.s.noTags.Load() {
			in.Tagging = &tags
		}
		sending(data)
		_, err := u.s.client.PutObject(ctx, in, unsignedPayload)
		if err != nil && in.Tagging != nil && (accessDenied(err) || refusedArgument(err)) {
			// Credentials that may put objects but not tag them (a policy
			// written for aioftps3), or a server without tags: store the
			// file without its sums; if that works, tagging was the reason.
			first := err
			in.Tagging, in.Body = nil, bytes.NewReader(data)
			if _, err = u.s.client.PutObject(ctx, in, unsignedPayload); err == nil {
				u.s.tagsDenied(first)
			}
		}
		u.releaseBuf()
		if err != nil {
			return fmt.Errorf("upload %q: put object: %w", u.key, classify(err))
		}
		return nil
	}
	if u.fill > 0 {
		if err := u.sendPart(); err != nil {
			return err
		}
	}
	u.releaseBuf()
	u.wg.Wait()
	if err := u.partErr(); err != nil {
		return err
	}
	parts := append([]types.CompletedPart(nil), u.parts...)
	sortParts(parts)
	in := &s3.CompleteMultipartUploadInput{
		Bucket: &u.s.opts.Bucket, Key: &u.key, UploadId: &u.uploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
		MpuObjectSize:   aws.Int64(u.written),
	}
	if u.fullObject {
		in.ChecksumType, in.ChecksumCRC32C = types.ChecksumTypeFullObject, aws.String(crcString(u.full.Sum32()))
	}
	out, err := u.s.client.CompleteMultipartUpload(ctx, in)
	if err != nil {
		return fmt.Errorf("upload %q: complete multipart upload: %w", u.key, classify(err))
	}
	// The digests are known only now, after the multipart upload's metadata
	// was fixed: they become the object's tags (tags.go), with the ETag of
	// this version, so that they are never taken for another's.
	u.s.tag(ctx, u.key, aws.ToString(out.VersionId), aws.ToString(out.ETag), u.sums.Sums())
	return nil
}

// Abort implements storage.Upload: stop the parts in flight, then abort the
// multipart upload; if S3 cannot be reached, the abort is retried in the
// background so no incomplete upload is left behind.
func (u *upload) Abort(ctx context.Context) error {
	if u.finished {
		return nil
	}
	u.finished = true
	u.cancel()
	u.wg.Wait()
	u.releaseBuf()
	u.s.forgetOlder(ctx, u)
	if u.uploadID == "" {
		return nil
	}
	return u.abortAndForget(ctx)
}

func (u *upload) releaseBuf() {
	if u.buf != nil {
		u.s.opts.Pool.Put(u.buf)
		u.buf, u.fill = nil, 0
	}
}

func crcString(sum uint32) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], sum)
	return base64.StdEncoding.EncodeToString(b[:])
}

func sortParts(parts []types.CompletedPart) {
	sort.Slice(parts, func(i, j int) bool { return aws.ToInt32(parts[i].PartNumber) < aws.ToInt32(parts[j].PartNumber) })
}
