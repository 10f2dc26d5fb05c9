package s3store

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"strings"
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
	// Over is the ETag of the object of that name when the upload was cut
	// ("" for none): if the name holds anything else later, a newer write
	// replaced the pending upload.
	Over      string    `json:"over"`
	Claim     string    `json:"claim,omitempty"`
	ClaimedAt time.Time `json:"claimed_at,omitzero"`
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

// StateKey is where the state of key's pending upload is kept: named by
// the key's SHA-256, so that any key (up to S3's 1024 bytes) has one of a
// fixed length. The state holds the key itself.
func StateKey(key string) string { return stateKey(key) }

func stateKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return PendingPrefix + hex.EncodeToString(sum[:])
}

// maxState bounds a state object (10,000 parts take about 1 MB).
const maxState = 4 << 20

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

// NoKeep makes a cut of this upload an abort: its first bytes are not the
// client's to resend (an append copied a stored file into it).
func (u *upload) NoKeep() { u.noKeep = true }

// Suspend implements storage.SuspendableUpload: after the parts in flight
// end, the parts 1..k that S3 holds are kept as the pending upload of the
// key; what was buffered past them is dropped (the client sends it again).
// With resuming off, or nothing held, it is an Abort.
func (u *upload) Suspend(ctx context.Context) error {
	if u.finished {
		return nil
	}
	if u.s.opts.ResumeWindow <= 0 || u.uploadID == "" || u.s.noState.Load() || u.noKeep {
		return u.Abort(ctx)
	}
	u.finished = true
	// The parts in flight end (S3 keeps them) or, if S3 stalls, are
	// cancelled after a while: what was sent by then is what is kept.
	done := make(chan struct{})
	go func() { u.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		u.cancel()
		<-done
	}
	u.releaseBuf()
	u.cancel()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute) // the client is gone; its context may be too
	defer cancel()
	st := u.state()
	if st == nil {
		u.s.forgetOlder(ctx, u)
		return u.abortAndForget(ctx)
	}
	if u.resumed == nil {
		// A new upload cut while an older one of the name was pending:
		// this one is the newest write; the older one goes.
		if old, _, err := u.s.loadState(ctx, u.key); err == nil && old.UploadID != u.uploadID {
			_ = u.s.aborter.abort(old.Key, old.UploadID)
		}
	}
	over, err := u.s.currentETag(ctx, u.key)
	if err != nil {
		_ = u.abortAndForget(ctx)
		return fmt.Errorf("upload %q: keep for resuming: %w", u.key, err)
	}
	st.Over = over
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
	// Every byte received is in the parts kept (a cut right at a part's
	// end, at the end of the file): a client would read that offset as
	// "all sent" and never resume. Keep one part less.
	if snap != nil && st.Offset == u.written && u.written > u.base {
		keep, snap, st.Offset = 0, nil, 0
		for i := len(run) - 2; i >= 0; i-- {
			if s, ok := u.snaps[run[i].N]; ok {
				keep, snap = i+1, s
				for _, p := range run[:keep] {
					st.Offset += p.Size
				}
				break
			}
		}
	}
	if snap == nil {
		return nil
	}
	st.Parts = run[:keep]
	st.Sums, st.CRC32C = snap.sums, snap.crc
	return st
}

// forgetOlder drops the pending upload of u's key that u, a new upload of
// the name without an offset, was to replace: u ends without keeping
// anything (cancelled, or cut before a part was stored), and the older
// pending upload must not come back as the name's newest write (a resume
// of it with u's bytes would mix two versions).
func (s *Store) forgetOlder(ctx context.Context, u *upload) {
	if u.resumed != nil || s.opts.ResumeWindow <= 0 || s.noState.Load() || strings.HasSuffix(u.key, "/") {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if old, etag, err := s.loadState(ctx, u.key); err == nil && old.UploadID != u.uploadID {
		s.forget(ctx, old, etag, "a newer upload of the name ended without keeping anything")
	}
}

// abortAndForget aborts the multipart upload and drops its state.
func (u *upload) abortAndForget(ctx context.Context) error {
	err := u.s.aborter.abort(u.key, u.uploadID)
	if u.resumed != nil {
		u.s.deleteState(ctx, u.key, "")
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
	if len(body) > maxState {
		return fmt.Errorf("state of %d parts is %d bytes, over %d", len(st.Parts), len(body), maxState)
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
	if s.noState.Load() {
		return nil, "", storage.ErrNotExist
	}
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
	body, err := io.ReadAll(io.LimitReader(out.Body, maxState+1))
	if err != nil {
		return nil, "", classify(err)
	}
	st := &pendingState{}
	if len(body) > maxState {
		// Never written by this gateway: leave it (and its upload) to the
		// lifecycle rules rather than guess.
		s.opts.Logger.Warn("pending upload state too large: ignored", "key", key, "bytes", len(body))
		return nil, "", storage.ErrNotExist
	}
	if err := json.Unmarshal(body, st); err != nil || st.Key != key || st.UploadID == "" {
		s.opts.Logger.Warn("unreadable pending upload state: discarded", "key", key, "error", err)
		if err == nil && st.UploadID != "" && st.Key != "" {
			_ = s.aborter.abort(st.Key, st.UploadID)
		}
		s.deleteState(ctx, key, aws.ToString(out.ETag))
		return nil, "", storage.ErrNotExist
	}
	etag := aws.ToString(out.ETag)
	if time.Now().After(st.Expires) {
		s.forget(ctx, st, etag, "its resume window ended")
		return nil, "", storage.ErrNotExist
	}
	return st, etag, nil
}

// forget aborts a pending upload and deletes its state (that version of it).
func (s *Store) forget(ctx context.Context, st *pendingState, etag, why string) {
	_ = s.aborter.abort(st.Key, st.UploadID)
	s.deleteState(ctx, st.Key, etag)
	s.opts.Logger.Info("pending upload discarded", "key", st.Key, "offset", st.Offset, "reason", why)
}

// stateDenied says, once, that the credentials cannot reach the state
// prefix: cut uploads are then aborted as if resuming were off.
func (s *Store) stateDenied(err error) {
	if !s.noState.Swap(true) {
		s.opts.Logger.Warn("the credentials cannot read or write "+PendingPrefix+"* in the bucket: cut uploads cannot be kept for resuming", "error", err)
	}
}

// deleteState deletes key's state; with etag, only that version of it (S3
// honours If-Match on delete; for servers that ignore it, the state is read
// again first and left alone if it changed).
func (s *Store) deleteState(ctx context.Context, key, etag string) {
	ctx = context.WithoutCancel(ctx)
	in := &s3.DeleteObjectInput{Bucket: &s.opts.Bucket, Key: aws.String(stateKey(key))}
	if etag != "" {
		head, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.opts.Bucket, Key: in.Key})
		if err != nil || aws.ToString(head.ETag) != etag {
			return // gone, or rewritten by a newer cut
		}
		in.IfMatch = &etag
	}
	_, err := s.client.DeleteObject(ctx, in)
	if err != nil && httpStatus(err) != http.StatusPreconditionFailed {
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
	st, etag, err := s.loadState(ctx, key)
	if err == nil && s.replaced(ctx, st, etag) {
		err = storage.ErrNotExist
	}
	if err != nil {
		return storage.Pending{}, fmt.Errorf("pending upload of %q: %w", key, err)
	}
	return storage.Pending{Key: key, Offset: st.Offset, Suspended: st.Suspended, Expires: st.Expires}, nil
}

// replaced reports whether the name holds another object than when the
// upload was cut (a new upload without an offset, a rename onto it, a
// delete, another program): then the pending upload is no longer the newest
// write of the name, and it is discarded. If S3 cannot tell now, it is
// kept.
func (s *Store) replaced(ctx context.Context, st *pendingState, etag string) bool {
	now, err := s.currentETag(ctx, st.Key)
	if err != nil || now == st.Over {
		return false
	}
	s.forget(ctx, st, etag, "a newer upload of the name exists")
	return true
}

// currentETag is the ETag of the object stored under key, "" if none.
func (s *Store) currentETag(ctx context.Context, key string) (string, error) {
	head, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.opts.Bucket, Key: &key})
	switch {
	case err != nil && isNotFound(err):
		return "", nil
	case err != nil:
		return "", classify(err)
	}
	return strings.Trim(aws.ToString(head.ETag), `"`), nil
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
	s.forget(ctx, st, "", "discarded by a new upload or a cancel")
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
	if s.replaced(ctx, st, etag) {
		return nil, fmt.Errorf("resume %q: %w", key, storage.ErrNotExist)
	}
	// Are the parts still there (the upload may have been aborted by a
	// lifecycle rule or the stale cleanup), and is nobody still sending
	// parts to it under an old claim?
	newest, err := s.checkParts(ctx, st)
	switch {
	case errors.Is(err, errPartsGone):
		s.forget(ctx, st, etag, err.Error())
		return nil, fmt.Errorf("resume %q: %w", key, storage.ErrNotExist)
	case err != nil:
		return nil, fmt.Errorf("resume %q: %w", key, err)
	case st.Claim != "" && time.Since(newest) < claimLease:
		return nil, fmt.Errorf("resume %q: %w", key, storage.ErrResuming)
	}
	u, err := s.continueFrom(ctx, st)
	if err != nil {
		return nil, fmt.Errorf("resume %q: %w", key, err)
	}
	now := time.Now().UTC()
	st.Claim, st.ClaimedAt, st.Expires = rand.Text(), now, now.Add(s.opts.ResumeWindow)
	if err := s.putState(ctx, st, etag); err != nil {
		u.cancel()
		return nil, fmt.Errorf("resume %q: %w", key, err)
	}
	s.opts.Logger.Info("upload resumed", "key", key, "offset", st.Offset, "parts", len(st.Parts))
	return u, nil
}

// errPartsGone: S3 no longer holds the parts a pending state names.
var errPartsGone = errors.New("its parts are gone or changed")

// checkParts fails with errPartsGone unless S3 still holds the state's
// parts, unchanged; it returns when the newest part arrived. Credentials
// that may not list parts skip the check (CompleteMultipartUpload checks
// every part's ETag anyway).
func (s *Store) checkParts(ctx context.Context, st *pendingState) (time.Time, error) {
	held, newest := map[int32]string{}, time.Time{}
	p := s3.NewListPartsPaginator(s.client, &s3.ListPartsInput{Bucket: &s.opts.Bucket, Key: &st.Key, UploadId: &st.UploadID})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		switch {
		case err != nil && (isNotFound(err) || httpStatus(err) == http.StatusNotFound):
			return newest, errPartsGone
		case err != nil && accessDenied(err):
			return newest, nil
		case err != nil:
			return newest, classify(err)
		}
		for _, part := range out.Parts {
			held[aws.ToInt32(part.PartNumber)] = strings.Trim(aws.ToString(part.ETag), `"`)
			if part.LastModified != nil && part.LastModified.After(newest) {
				newest = *part.LastModified
			}
		}
	}
	for _, part := range st.Parts {
		if held[part.N] != strings.Trim(part.ETag, `"`) {
			return newest, fmt.Errorf("%w: part %d", errPartsGone, part.N)
		}
	}
	return newest, nil
}

// continueFrom builds the upload that goes on from a pending state.
func (s *Store) continueFrom(ctx context.Context, st *pendingState) (*upload, error) {
	// Only the algorithms both configured now and saved at the cut can
	// cover the whole file (CHECKSUMS may have changed in between).
	var algs []digest.Algorithm
	for _, a := range s.opts.Checksums {
		if _, ok := st.Sums[a]; ok {
			algs = append(algs, a)
		}
	}
	sums, err := digest.Resume(algs, st.Sums)
	if err != nil {
		return nil, fmt.Errorf("checksums: %w", err)
	}
	full := crc32.New(castagnoli)
	if err := full.(encoding.BinaryUnmarshaler).UnmarshalBinary(st.CRC32C); err != nil {
		return nil, fmt.Errorf("crc32c state: %w", err)
	}
	uctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	u := &upload{
		s: s, key: st.Key, ctx: uctx, cancel: cancel, partDone: make(chan struct{}, 1),
		sums: sums, full: full, part: crc32.New(castagnoli), uploadID: st.UploadID, fullObject: st.FullObject,
		nextNum: int32(len(st.Parts)) + 1, written: st.Offset, base: st.Offset,
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

// SweepPending discards the pending uploads whose window ended (the
// gateway calls it at start and every hour) and returns the upload ids of
// those still pending, which the stale cleanup must leave alone.
func (s *Store) SweepPending(ctx context.Context) (live map[string]bool, discarded int, err error) {
	if s.opts.ResumeWindow <= 0 || s.noState.Load() {
		return nil, 0, nil
	}
	var names []string
	err = s.List(ctx, PendingPrefix, storage.ListOptions{Recursive: true}, func(o storage.Object) error {
		names = append(names, o.Key)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	live = map[string]bool{}
	for _, name := range names {
		out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.opts.Bucket, Key: &name})
		if err != nil {
			continue
		}
		st := &pendingState{}
		derr := json.NewDecoder(io.LimitReader(out.Body, maxState)).Decode(st)
		out.Body.Close()
		if derr != nil || st.Key == "" || stateKey(st.Key) != name {
			continue
		}
		if _, _, err := s.loadState(ctx, st.Key); err == nil {
			live[st.UploadID] = true
		} else if errors.Is(err, storage.ErrNotExist) {
			discarded++
		}
	}
	return live, discarded, nil
}
