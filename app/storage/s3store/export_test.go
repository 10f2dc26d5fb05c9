package s3store

// SetBeforeSend lets a test change a body after it was hashed and before it
// is sent (nil removes the hook).
func SetBeforeSend(f func(body []byte)) { beforeSend = f }
