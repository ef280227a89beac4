package tests3

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func TestStartStopRestart(t *testing.T) {
	srv := Start(t)
	srv.CreateBucket(t, "plain", false)
	srv.CreateBucket(t, "locked", true)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := srv.Client()
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("plain"), Key: aws.String("a/b"), Body: strings.NewReader("hello")}); err != nil {
		t.Fatal(err)
	}
	lock, err := c.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: aws.String("locked")})
	if err != nil {
		t.Fatal(err)
	}
	if lock.ObjectLockConfiguration == nil || lock.ObjectLockConfiguration.ObjectLockEnabled != "Enabled" {
		t.Fatalf("object lock not enabled: %+v", lock.ObjectLockConfiguration)
	}

	srv.Stop()
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("plain"), Key: aws.String("a/b")}); err == nil {
		t.Fatal("stopped server answered")
	}
	srv.Restart(t)
	out, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("plain"), Key: aws.String("a/b")})
	if err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if aws.ToInt64(out.ContentLength) != 5 {
		t.Fatalf("size %d after restart", aws.ToInt64(out.ContentLength))
	}
	for _, kv := range srv.Env() {
		if strings.HasPrefix(kv, "AWS_ENDPOINT_URL_S3=") && kv != "AWS_ENDPOINT_URL_S3="+srv.Endpoint {
			t.Fatal(kv)
		}
	}
}
