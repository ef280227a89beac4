package doctor

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/kubectl/pkg/cmd/util/podcmd"
	"k8s.io/kubectl/pkg/polymorphichelpers"
)

// podStep is step 4: the pod kubectl exec would pick for the target, its
// phase, node and containers, and the container exec would use.
func (r *run) podStep(s *stepRun) {
	ns := r.report.Namespace
	hop := "the pod " + r.cfg.Target + " in namespace " + ns
	var pod *corev1.Pod
	s.timed("lookup", func(ctx context.Context) Check {
		p, err := r.resolvePod(ctx)
		if err != nil {
			switch {
			case apierrors.IsNotFound(err):
				return failCheck(err.Error()+" in namespace "+ns, hop,
					fmt.Sprintf("check the name and the namespace (-n; the context's namespace is %q): kubectl get pods -n %s", ns, ns))
			case apierrors.IsForbidden(err):
				return failCheck(err.Error(), hopAuthz+" in namespace "+ns, "exec needs to read the pod first: ask for \"get\" on pods in "+ns)
			}
			if d := timeoutDetail(ctx, "pod lookup"); d != "" {
				return failCheck(d, hop, "for TYPE/NAME kubectl waits for a running pod of the workload; none came up in time")
			}
			return failCheck(err.Error(), hop, "kubectl exec resolves the target the same way and would fail the same")
		}
		pod = p
		node := p.Spec.NodeName
		data := map[string]any{"namespace": p.Namespace, "name": p.Name, "phase": string(p.Status.Phase), "node": node, "podIP": p.Status.PodIP}
		detail := fmt.Sprintf("%s/%s, phase %s, node %s", p.Namespace, p.Name, p.Status.Phase, orNone(node))
		if p.DeletionTimestamp != nil {
			c := failCheck(detail+", being deleted", hop, "the pod is terminating; exec into its replacement")
			c.Data = data
			return c
		}
		switch p.Status.Phase {
		case corev1.PodSucceeded, corev1.PodFailed:
			c := failCheck(detail, hop, "cannot exec into a completed pod; exec into a running one")
			c.Data = data
			return c
		case corev1.PodRunning:
		default:
			c := failCheck(detail, hop, "the pod is not running yet: kubectl describe pod "+p.Name+" -n "+p.Namespace+" shows why")
			c.Data = data
			return c
		}
		return okCheck(detail, data)
	})
	if pod == nil {
		r.stop = "there is no pod to exec into"
		return
	}
	r.pod = pod
	r.report.Pod = pod.Name
	r.report.Namespace = pod.Namespace

	var chosen string
	s.timed("container", func(context.Context) Check {
		var warn bytes.Buffer
		if r.cfg.Container != "" {
			if c, _ := podcmd.FindContainerByName(pod, r.cfg.Container); c == nil {
				return failCheck(fmt.Sprintf("container %s is not valid for pod %s out of: %s", r.cfg.Container, pod.Name, podcmd.AllContainerNames(pod)),
					hop, "pick one of the listed containers with -c")
			}
			chosen = r.cfg.Container
			return okCheck(chosen+" (-c)", map[string]any{"name": chosen, "how": "flag"})
		}
		c, err := podcmd.FindOrDefaultContainerByName(pod, "", false, &warn)
		if err != nil {
			return failCheck(err.Error(), hop, "pick a container with -c")
		}
		chosen = c.Name
		how := "the only container"
		switch {
		case pod.Annotations[podcmd.DefaultContainerAnnotationName] == c.Name:
			how = "the " + podcmd.DefaultContainerAnnotationName + " annotation"
		case len(pod.Spec.Containers) > 1:
			how = "the first container"
		}
		detail := c.Name + " (" + how + ")"
		if w := strings.TrimSpace(warn.String()); w != "" {
			detail += "; kubectl says: " + w
		}
		return okCheck(detail, map[string]any{"name": c.Name, "how": how})
	})
	if chosen == "" {
		r.stop = "no container to exec into"
		return
	}
	r.container = chosen
	r.report.Container = chosen

	for _, cs := range allStatuses(pod) {
		s.timed("state "+cs.Name, func(context.Context) Check { return containerState(cs, cs.Name == chosen, hop) })
	}
}

// resolvePod resolves the target as kubectl exec does: the resource builder
// (POD, pod/NAME, deploy/NAME, ...) and AttachablePodForObjectFn, which
// picks a running pod of a workload. The builder takes no context, so the
// step's deadline is enforced around it.
func (r *run) resolvePod(ctx context.Context) (*corev1.Pod, error) {
	type result struct {
		pod *corev1.Pod
		err error
	}
	done := make(chan result, 1)
	timeout := time.Until(deadlineOr(ctx, time.Now().Add(r.cfg.StepTimeout)))
	go func() {
		flags := r.cfg.Flags
		ns, _, err := flags.ToRawKubeConfigLoader().Namespace()
		if err != nil {
			done <- result{err: err}
			return
		}
		obj, err := resource.NewBuilder(flags).
			WithScheme(scheme.Scheme, scheme.Scheme.PrioritizedVersionsAllGroups()...).
			NamespaceParam(ns).DefaultNamespace().
			ResourceNames("pods", r.cfg.Target).
			Do().Object()
		if err != nil {
			done <- result{err: err}
			return
		}
		if meta.IsListType(obj) {
			done <- result{err: fmt.Errorf("%s names more than one object; exec needs one", r.cfg.Target)}
			return
		}
		pod, err := polymorphichelpers.AttachablePodForObjectFn(flags, obj, timeout)
		done <- result{pod, err}
	}()
	select {
	case res := <-done:
		return res.pod, res.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func deadlineOr(ctx context.Context, def time.Time) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	return def
}

type namedStatus struct {
	corev1.ContainerStatus
	kind string // "container", "init container", "ephemeral container"
}

func allStatuses(pod *corev1.Pod) []namedStatus {
	var out []namedStatus
	for _, cs := range pod.Status.ContainerStatuses {
		out = append(out, namedStatus{cs, "container"})
	}
	for _, cs := range pod.Status.EphemeralContainerStatuses {
		out = append(out, namedStatus{cs, "ephemeral container"})
	}
	return out
}

// containerState reports one container; only the chosen one can fail the
// step, the others are context.
func containerState(cs namedStatus, chosen bool, hop string) Check {
	data := map[string]any{"name": cs.Name, "ready": cs.Ready, "restarts": cs.RestartCount, "image": cs.Image, "chosen": chosen}
	var state string
	running := false
	switch st := cs.State; {
	case st.Running != nil:
		running = true
		state = "running since " + st.Running.StartedAt.UTC().Format(time.RFC3339)
		data["state"] = "running"
	case st.Waiting != nil:
		state = "waiting: " + st.Waiting.Reason
		if st.Waiting.Message != "" {
			state += " (" + st.Waiting.Message + ")"
		}
		data["state"] = "waiting"
		data["reason"] = st.Waiting.Reason
	case st.Terminated != nil:
		state = fmt.Sprintf("terminated: %s, exit %d", st.Terminated.Reason, st.Terminated.ExitCode)
		data["state"] = "terminated"
		data["reason"] = st.Terminated.Reason
	default:
		state = "state unknown"
	}
	detail := fmt.Sprintf("%s, ready %v, restarts %d", state, cs.Ready, cs.RestartCount)
	if lt := cs.LastTerminationState.Terminated; lt != nil && cs.RestartCount > 0 {
		detail += fmt.Sprintf(" (last: %s, exit %d at %s)", lt.Reason, lt.ExitCode, lt.FinishedAt.UTC().Format(time.RFC3339))
	}
	if cs.kind != "container" {
		detail = cs.kind + ", " + detail
	}
	if chosen {
		detail = "exec target; " + detail
	}
	switch {
	case chosen && !running:
		c := failCheck(detail, hop, "exec needs the container running: kubectl describe pod and kubectl logs --previous show why it is not")
		c.Data = data
		return c
	case chosen && cs.RestartCount > 0:
		c := warnCheck(detail, "the container has restarted; a restart ends every exec session in it")
		c.Data = data
		return c
	}
	return okCheck(detail, data)
}
