package s3store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/ftps3/ftps3/app/storage"
	"github.com/ftps3/ftps3/app/storage/digest"
)

// A cut upload (Suspend) keeps its multipart upload, and a small state
// object under PendingPrefix (the bucket's root) says how to continue it:
// the upload id, the parts S3 holds and their ETags, the offset they end at,
// and the hashing state there (crypto's hashes marshal their state), so the
// resumed upload's checksums cover the whole file. The state lives in S3, so
// another task, or this one after a restart, can resume. Nothing of it is
// visible to clients (objfs hides the prefix).
const PendingPrefix = ".ftps3/pending/"

// claimLease: a resume that was claimed this long ago, and whose upload got
// no part since, may be taken over (its session is gone). Taking over is
// safe even if it is not: CompleteMultipartUpload checks each part's ETag,
// so two writers never produce a mixed object, one of them fails.
const claimLease = 5 * time.Minute

var _ storage.Resumer = (*Store)(nil)

type pendingState struct {
	Key        string       `json:"key"`
	UploadID   string       `json:"upload_id"`
	Offset     int64        `json:"offset"`
	Parts      []statePart  `json:"parts"`
	Sums       digest.State `json:"sums,omitempty"`
	CRC32C     []byte       `json:"crc32c"`
	FullObject bool         `json:"full_object"`
	Suspended  time.Time    `json:"suspended"`
	Expires    time.Time    `json:"expires"`
	Claim      string       `json:"claim,omitempty"`
	ClaimedAt  time.Time    `json:"claimed_at,omitzero"`
}

type statePart struct {
	N      int32  `json:"n"`
	ETag   string `json:"etag"`
	CRC32C string `json:"crc32c"`
	Size   int64  `json:"size"`
}

// snapshot is the hashing state at the end of one part.
type snapshot struct {
	sums digest.State
	crc  []byte
}

// resumedFrom ties an upload to the pending state it continues.
type resumedFrom struct {
	claim string
}

func stateKey(key string) string { return PendingPrefix + key }

// saveSnapshot records the hashing state at the end of part num (its bytes
// are all hashed, none of the next part's yet).
func (u *upload) saveSnapshot(num int32, _ int64) {
	sums, err := u.sums.State()
	if err != nil {
		return // no resume from this part: it will be sent again
	}
	crc, err := u.full.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return
	}
	u.mu.Lock()
	u.snaps[num] = &snapshot{sums: sums, crc: crc}
	u.mu.Unlock()
}

// Suspend implements storage.SuspendableUpload: after the parts in flight
// end, the parts 1..k that S3 holds are kept as the pending upload of the
// key; what was buffered past them is dropped (the client sends it again).
// With resuming off, or nothing held, it is an Abort.
func (u *upload) Suspend(ctx context.Context) error {
	if u.finished {
		return nil
	}
	if u.s.opts.ResumeWindow <= 0 || u.uploadID == "" {
		return u.Abort(ctx)
	}
	u.finished = true
	u.wg.Wait()
	u.releaseBuf()
	u.cancel()
	st := u.state()
	if st == nil {
		return u.abortAndForget(ctx)
	}
	if err := u.s.putState(ctx, st, ""); err != nil {
		if accessDenied(err) {
			u.s.stateDenied(err)
		}
		_ = u.abortAndForget(ctx)
		return fmt.Errorf("upload %q: keep for resuming: %w", u.key, err)
	}
	u.s.opts.Logger.Info("upload cut: kept for resuming", "key", u.key, "offset", st.Offset, "parts", len(st.Parts), "expires", st.Expires.Format(time.RFC3339))
	return nil
}

// state is the pending state for the longest run of parts from 1 that S3
// holds, or nil if there is none.
func (u *upload) state() *pendingState {
	u.mu.Lock()
	defer u.mu.Unlock()
	parts := append([]types.CompletedPart(nil), u.parts...)
	sortParts(parts)
	st := &pendingState{Key: u.key, UploadID: u.uploadID, FullObject: u.fullObject, Suspended: time.Now().UTC()}
	st.Expires = st.Suspended.Add(u.s.opts.ResumeWindow)
	// The run of parts 1, 2, ... S3 holds, cut back to the last one whose
	// hashing state is known (a resumed upload knows only its first part's
	// end and those it sent itself).
	var (
		run    []statePart
		offset int64
		keep   int
		snap   *snapshot
	)
	for i, p := range parts {
		n := aws.ToInt32(p.PartNumber)
		if n != int32(i+1) {
			break
		}
		run = append(run, statePart{N: n, ETag: aws.ToString(p.ETag), CRC32C: aws.ToString(p.ChecksumCRC32C), Size: u.partSizes[n]})
		offset += u.partSizes[n]
		if s, ok := u.snaps[n]; ok {
			keep, snap, st.Offset = len(run), s, offset
		}
	}
	if snap == nil {
		return nil
	}
	st.Parts = run[:keep]
	st.Sums, st.CRC32C = snap.sums, snap.crc
	return st
}

// abortAndForget aborts the multipart upload and drops its state.
func (u *upload) abortAndForget(ctx context.Context) error {
	err := u.s.aborter.abort(u.key, u.uploadID)
	if u.resumed != nil {
		u.s.deleteState(ctx, u.key)
	}
	if err != nil {
		return fmt.Errorf("upload %q: abort multipart upload (will retry): %w", u.key, classify(err))
	}
	return nil
}

// putState writes the state object; with ifMatch, only over that version.
func (s *Store) putState(ctx context.Context, st *pendingState, ifMatch string) error {
	body, err := json.Marshal(st)
	if err != nil {
		return err
	}
	in := &s3.PutObjectInput{Bucket: &s.opts.Bucket, Key: aws.String(stateKey(st.Key)), Body: bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))), ContentType: aws.String("application/json")}
	if ifMatch != "" {
		in.IfMatch = &ifMatch
	}
	_, err = s.client.PutObject(ctx, in)
	if err != nil {
		if httpStatus(err) == http.StatusPreconditionFailed || httpStatus(err) == http.StatusConflict {
			return storage.ErrResuming
		}
		return classify(err)
	}
	return nil
}

// loadState reads the pending state of key and its ETag (ErrNotExist if
// there is none, or it expired: then it is discarded).
func (s *Store) loadState(ctx context.Context, key string) (*pendingState, string, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.opts.Bucket, Key: aws.String(stateKey(key))})
	if err != nil {
		if isNotFound(err) {
			return nil, "", storage.ErrNotExist
		}
		if accessDenied(err) {
			s.stateDenied(err)
			return nil, "", storage.ErrNotExist
		}
		return nil, "", classify(err)
	}
	defer out.Body.Close()
	body, err := io.ReadAll(io.LimitReader(out.Body, 1<<20))
	if err != nil {
		return nil, "", classify(err)
	}
	st := &pendingState{}
	if err := json.Unmarshal(body, st); err != nil || st.Key != key || st.UploadID == "" {
		s.opts.Logger.Warn("unreadable pending upload state: discarded", "key", key, "error", err)
		s.deleteState(ctx, key)
		return nil, "", storage.ErrNotExist
	}
	if time.Now().After(st.Expires) {
		s.forget(ctx, st, "its resume window ended")
		return nil, "", storage.ErrNotExist
	}
	return st, aws.ToString(out.ETag), nil
}

// forget aborts a pending upload and deletes its state.
func (s *Store) forget(ctx context.Context, st *pendingState, why string) {
	_ = s.aborter.abort(st.Key, st.UploadID)
	s.deleteState(ctx, st.Key)
	s.opts.Logger.Info("pending upload discarded", "key", st.Key, "offset", st.Offset, "reason", why)
}

// stateDenied says, once, that the credentials cannot reach the state
// prefix: cut uploads are then aborted as if resuming were off.
func (s *Store) stateDenied(err error) {
	if !s.noState.Swap(true) {
		s.opts.Logger.Warn("the credentials cannot read or write "+PendingPrefix+"* in the bucket: cut uploads cannot be kept for resuming", "error", err)
	}
}

func (s *Store) deleteState(ctx context.Context, key string) {
	_, err := s.client.DeleteObject(context.WithoutCancel(ctx), &s3.DeleteObjectInput{Bucket: &s.opts.Bucket, Key: aws.String(stateKey(key))})
	if err != nil {
		s.opts.Logger.Warn("could not delete a pending upload's state", "key", key, "error", classify(err))
	}
}

// Pending implements storage.Resumer.
func (s *Store) Pending(ctx context.Context, key string) (storage.Pending, error) {
	if s.opts.ResumeWindow <= 0 {
		return storage.Pending{}, storage.ErrNotExist
	}
	if err := checkKey(key); err != nil {
		return storage.Pending{}, err
	}
	st, _, err := s.loadState(ctx, key)
	if err != nil {
		return storage.Pending{}, fmt.Errorf("pending upload of %q: %w", key, err)
	}
	return storage.Pending{Key: key, Offset: st.Offset, Suspended: st.Suspended, Expires: st.Expires}, nil
}

// Discard implements storage.Resumer.
func (s *Store) Discard(ctx context.Context, key string) error {
	if s.opts.ResumeWindow <= 0 {
		return nil
	}
	st, _, err := s.loadState(ctx, key)
	if errors.Is(err, storage.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pending upload of %q: %w", key, err)
	}
	s.forget(ctx, st, "discarded by a new upload or a cancel")
	return nil
}

// Resume implements storage.Resumer.
func (s *Store) Resume(ctx context.Context, key string, offset int64) (storage.Upload, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if s.opts.ResumeWindow <= 0 {
		return nil, fmt.Errorf("resume %q: %w", key, storage.ErrNotExist)
	}
	st, etag, err := s.loadState(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("resume %q: %w", key, err)
	}
	if offset != st.Offset {
		return nil, fmt.Errorf("resume %q: %w", key, &storage.OffsetError{Want: st.Offset, Got: offset})
	}
	if st.Claim != "" && time.Since(st.ClaimedAt) < claimLease {
		return nil, fmt.Errorf("resume %q: %w", key, storage.ErrResuming)
	}
	// Are the parts still there (the upload may have been aborted by a
	// lifecycle rule or the stale cleanup)?
	if err := s.checkParts(ctx, st); err != nil {
		s.forget(ctx, st, err.Error())
		return nil, fmt.Errorf("resume %q: %w", key, storage.ErrNotExist)
	}
	st.Claim, st.ClaimedAt = rand.Text(), time.Now().UTC()
	if err := s.putState(ctx, st, etag); err != nil {
		return nil, fmt.Errorf("resume %q: %w", key, err)
	}
	u, err := s.continueFrom(ctx, st)
	if err != nil {
		return nil, fmt.Errorf("resume %q: %w", key, err)
	}
	s.opts.Logger.Info("upload resumed", "key", key, "offset", st.Offset, "parts", len(st.Parts))
	return u, nil
}

// checkParts fails unless S3 still holds the state's parts, unchanged.
func (s *Store) checkParts(ctx context.Context, st *pendingState) error {
	held := map[int32]string{}
	p := s3.NewListPartsPaginator(s.client, &s3.ListPartsInput{Bucket: &s.opts.Bucket, Key: &st.Key, UploadId: &st.UploadID})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			if isNotFound(err) || httpStatus(err) == http.StatusNotFound {
				return errors.New("its multipart upload is gone")
			}
			return classify(err)
		}
		for _, part := range out.Parts {
			held[aws.ToInt32(part.PartNumber)] = aws.ToString(part.ETag)
		}
	}
	for _, part := range st.Parts {
		if held[part.N] != part.ETag {
			return fmt.Errorf("part %d is not as it was left", part.N)
		}
	}
	return nil
}

// continueFrom builds the upload that goes on from a pending state.
func (s *Store) continueFrom(ctx context.Context, st *pendingState) (*upload, error) {
	sums, err := digest.Resume(s.opts.Checksums, st.Sums)
	if err != nil {
		return nil, fmt.Errorf("checksums: %w (was CHECKSUMS changed?)", err)
	}
	full := crc32.New(castagnoli)
	if err := full.(encoding.BinaryUnmarshaler).UnmarshalBinary(st.CRC32C); err != nil {
		return nil, fmt.Errorf("crc32c state: %w", err)
	}
	uctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	u := &upload{
		s: s, key: st.Key, ctx: uctx, cancel: cancel, partDone: make(chan struct{}, 1),
		sums: sums, full: full, uploadID: st.UploadID, fullObject: st.FullObject,
		nextNum: int32(len(st.Parts)) + 1, written: st.Offset,
		partSizes: map[int32]int64{}, snaps: map[int32]*snapshot{}, resumed: &resumedFrom{claim: st.Claim},
	}
	for _, p := range st.Parts {
		u.parts = append(u.parts, types.CompletedPart{PartNumber: aws.Int32(p.N), ETag: aws.String(p.ETag), ChecksumCRC32C: aws.String(p.CRC32C)})
		u.partSizes[p.N] = p.Size
	}
	// The last kept part's state is where a second cut goes back to.
	if n := int32(len(st.Parts)); n > 0 {
		u.snaps[n] = &snapshot{sums: st.Sums, crc: st.CRC32C}
	}
	return u, nil
}

// sweepPending discards pending uploads whose window ended (at start, with
// the stale-upload cleanup). It returns how many.
func (s *Store) sweepPending(ctx context.Context) (int, error) {
	n := 0
	var keys []string
	err := s.List(ctx, PendingPrefix, storage.ListOptions{Recursive: true}, func(o storage.Object) error {
		keys = append(keys, o.Key[len(PendingPrefix):])
		return nil
	})
	if err != nil {
		return 0, err
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, _, err := s.loadState(ctx, k); errors.Is(err, storage.ErrNotExist) {
			n++ // expired or unreadable: discarded by loadState
		}
	}
	return n, nil
}
