package session

import (
	"context"
	"fmt"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
)

// identityWait bounds how long the header waits for the SelfSubjectReview
// once the stream is up. The review runs in parallel with the pod lookup, so
// it is normally long finished; a slow or silent API server must not delay
// the session itself.
const identityWait = 3 * time.Second

// Identity is a SelfSubjectReview in flight. It is started before the pod
// lookup so that learning who the user is costs no extra serial round trip.
type Identity struct {
	done chan struct{}
	user record.User
}

// KnownIdentity is an identity learned another way: the gateway takes the
// one the API server vouched for in its request headers.
func KnownIdentity(u record.User) *Identity {
	id := &Identity{done: make(chan struct{}), user: u}
	close(id.done)
	return id
}

// LookupIdentity starts asking the API server who the caller is.
func LookupIdentity(ctx context.Context, client kubernetes.Interface) *Identity {
	id := &Identity{done: make(chan struct{})}
	go func() {
		defer close(id.done)
		id.user = selfSubjectReview(ctx, client)
	}()
	return id
}

// User returns the reviewed user, or "unknown" with the reason when the
// review failed or did not answer in time.
func (id *Identity) User() record.User {
	if id == nil {
		return record.User{Username: "unknown", Error: "identity was not looked up"}
	}
	select {
	case <-id.done:
		return id.user
	case <-time.After(identityWait):
		return record.User{Username: "unknown", Error: "SelfSubjectReview did not answer within " + identityWait.String()}
	}
}

func selfSubjectReview(ctx context.Context, client kubernetes.Interface) record.User {
	review, err := client.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authnv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return record.User{Username: "unknown", Error: fmt.Sprintf("SelfSubjectReview: %v", err)}
	}
	info := review.Status.UserInfo
	if info.Username == "" {
		return record.User{Username: "unknown", Error: "SelfSubjectReview returned no username"}
	}
	u := record.User{Username: info.Username, UID: info.UID, Groups: info.Groups}
	if len(info.Extra) > 0 {
		u.Extra = make(map[string][]string, len(info.Extra))
		for k, v := range info.Extra {
			u.Extra[k] = v
		}
	}
	return u
}
