// Package node is a stand-in for the kubelet, just enough of one for
// `kubectl exec` against a real kube-apiserver: it registers a Node, binds
// unscheduled pods to itself (there is no scheduler), reports them Running
// and Ready, and serves the kubelet's /exec endpoint with the upstream
// streaming server (k8s.io/cri-streaming).
//
// There is no container runtime: every container gets a root filesystem of
// its own built from a static busybox, and each exec'd command runs there in
// new mount, PID, UTS and IPC namespaces and, where the kernel allows, a user
// namespace in which its root is an unprivileged host user (see Sandbox).
// Whatever image a pod names, that busybox is what runs, and the node says so:
// it reports the image it really runs (Isolation.Image) in container
// statuses and in the ImageAnnotation of its Node. Without a static busybox
// or namespaces, commands run on the host as the node's user, and the image
// is "rexec-node/host".
package node

import (
	"context"
	"errors"
	"fmt"
	"log"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"

	"github.com/kubectl-rexec/kubectl-rexec/test/cluster/sandbox"
)

// Address is the node's only address: everything here is loopback.
const Address = "127.0.0.1"

// KubeletVersion is what the node reports; the control plane is v1.37.2.
const KubeletVersion = "v1.37.2"

// Config describes a node.
type Config struct {
	// Name of the Node object; "rexec-node" when empty.
	Name string
	// Client talks to kube-apiserver. It needs to create nodes and bindings
	// and update node and pod status (the admin identity is used; see README).
	Client kubernetes.Interface
	// Listen is the address of the kubelet API; "127.0.0.1:0" when empty.
	Listen string
	// TLSCertFile and TLSKeyFile are the serving certificate, which
	// kube-apiserver checks against --kubelet-certificate-authority.
	TLSCertFile, TLSKeyFile string
	// ClientCAFile, when set, requires callers to present a certificate it
	// signed (kube-apiserver's --kubelet-client-certificate).
	ClientCAFile string
	// WorkDir holds each container's working directory.
	WorkDir string
	// Busybox is the static busybox the containers' root filesystems are
	// made of; busybox on PATH or /bin/busybox when empty.
	Busybox string
	// Isolation forces sandbox.IsolationHost when set to it; otherwise the node
	// uses the strongest isolation the machine allows.
	Isolation sandbox.Isolation
	// HeartbeatInterval is how often the Ready condition is refreshed.
	HeartbeatInterval time.Duration
	// Logf logs; log.Printf when nil.
	Logf func(format string, args ...any)
}

// Node is a running node stand-in.
type Node struct {
	cfg    Config
	exec   *sandbox.Executor
	pods   corelisters.PodLister
	queue  workqueue.TypedRateLimitingInterface[string]
	ready  chan struct{}
	mu     sync.Mutex
	port   int
	logf   func(format string, args ...any)
	client kubernetes.Interface
}

// New validates cfg and returns a node that Run starts.
func New(cfg Config) (*Node, error) {
	if cfg.Client == nil {
		return nil, errors.New("node: a client is required")
	}
	if cfg.TLSCertFile == "" || cfg.TLSKeyFile == "" {
		return nil, errors.New("node: a serving certificate is required (kube-apiserver only talks TLS to kubelets)")
	}
	if cfg.Name == "" {
		cfg.Name = "rexec-node"
	}
	if cfg.Listen == "" {
		cfg.Listen = net.JoinHostPort(Address, "0")
	}
	if cfg.WorkDir == "" {
		cfg.WorkDir = filepath.Join(os.TempDir(), "rexec-node-"+cfg.Name)
	}
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval = 10 * time.Second
	}
	if cfg.Logf == nil {
		cfg.Logf = log.Printf
	}
	n := &Node{
		cfg:    cfg,
		client: cfg.Client,
		logf:   cfg.Logf,
		ready:  make(chan struct{}),
		queue:  workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]()),
	}
	sb := &sandbox.Runtime{Isolation: sandbox.IsolationHost, Reason: "asked for host processes"}
	if cfg.Isolation != sandbox.IsolationHost {
		sb = sandbox.Detect(cfg.Busybox, cfg.WorkDir)
	}
	n.exec = &sandbox.Executor{Lookup: n.lookup, Runtime: sb}
	return n, nil
}

// Ready is closed once the node is registered, Ready and serving.
func (n *Node) Ready() <-chan struct{} { return n.ready }

// Port is the kubelet API port, known once Ready is closed.
func (n *Node) Port() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.port
}

// Image is the image the node runs every container from; see Isolation.Image.
func (n *Node) Image() string { return n.exec.Runtime.Image() }

// Executor exposes the executor, for tests that count running commands.
func (n *Node) Executor() *sandbox.Executor { return n.exec }

// Run serves until ctx ends, then kills every command it started.
func (n *Node) Run(ctx context.Context) error {
	defer n.exec.Close()
	defer n.queue.ShutDown()

	ln, err := n.listen()
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.port = ln.Addr().(*net.TCPAddr).Port
	n.mu.Unlock()
	srv := &http.Server{Handler: n.handler(), ReadHeaderTimeout: 30 * time.Second, ErrorLog: log.New(logWriter(n.logf), "", 0)}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	defer func() { _ = srv.Close() }()

	if err := n.register(ctx); err != nil {
		return err
	}

	factory := informers.NewSharedInformerFactory(n.client, 0)
	podInformer := factory.Core().V1().Pods()
	n.pods = podInformer.Lister()
	if _, err := podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    n.enqueue,
		UpdateFunc: func(_, obj any) { n.enqueue(obj) },
	}); err != nil {
		return fmt.Errorf("watching pods: %w", err)
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), podInformer.Informer().HasSynced) {
		return fmt.Errorf("node %s: pod cache did not sync: %w", n.cfg.Name, ctx.Err())
	}
	go n.work(ctx)
	go n.heartbeat(ctx)

	sb := n.exec.Runtime
	n.logf("node %s ready, kubelet API on %s; containers run %s (isolation %s)", n.cfg.Name, ln.Addr(), sb.Image(), sb.Isolation)
	if sb.Reason != "" {
		n.logf("isolation %s because: %s", sb.Isolation, sb.Reason)
	}
	close(n.ready)
	select {
	case <-ctx.Done():
		n.logf("node %s stopping: killing %d running command(s)", n.cfg.Name, n.exec.Running())
		return nil
	case err := <-serveErr:
		return fmt.Errorf("kubelet API server: %w", err)
	}
}

// register creates the Node (or adopts one left by an earlier run), reports
// it Ready on this run's port, clears the not-ready taint that admission
// put on it, which no node lifecycle controller is here to remove, and
// annotates it with the image its containers really run.
func (n *Node) register(ctx context.Context) error {
	nodes := n.client.CoreV1().Nodes()
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name:        n.cfg.Name,
		Annotations: n.annotations(),
		Labels: map[string]string{
			"kubernetes.io/hostname": n.cfg.Name,
			"kubernetes.io/os":       runtime.GOOS,
			"kubernetes.io/arch":     runtime.GOARCH,
		},
	}}
	var err error
	for deadline := time.Now().Add(time.Minute); ; {
		_, err = nodes.Create(ctx, node, metav1.CreateOptions{})
		if err == nil || apierrors.IsAlreadyExists(err) {
			break
		}
		// RBAC and the node's namespace are bootstrapped asynchronously right
		// after /readyz; retry rather than fail the start-up (for a minute:
		// a loaded machine may take a while to get there).
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("registering node %s: %w", n.cfg.Name, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := n.updateStatus(ctx); err != nil {
		return err
	}
	cur, err := nodes.Get(ctx, n.cfg.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading node %s: %w", n.cfg.Name, err)
	}
	var taints []corev1.Taint
	for _, t := range cur.Spec.Taints {
		if t.Key != corev1.TaintNodeNotReady && t.Key != corev1.TaintNodeUnreachable {
			taints = append(taints, t)
		}
	}
	want := n.annotations()
	if len(taints) != len(cur.Spec.Taints) || cur.Annotations[ImageAnnotation] != want[ImageAnnotation] ||
		cur.Annotations[IsolationAnnotation] != want[IsolationAnnotation] {
		cur.Spec.Taints = taints
		if cur.Annotations == nil {
			cur.Annotations = map[string]string{}
		}
		maps.Copy(cur.Annotations, want)
		if _, err := nodes.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("updating node %s (not-ready taint, image annotations): %w", n.cfg.Name, err)
		}
	}
	return nil
}

// Annotations of the Node saying what its containers really run, for tools
// that create pods for it (cluster.CreatePod names this image).
const (
	ImageAnnotation     = "rexec-node/image"
	IsolationAnnotation = "rexec-node/isolation"
)

func (n *Node) annotations() map[string]string {
	return map[string]string{ImageAnnotation: n.Image(), IsolationAnnotation: string(n.exec.Runtime.Isolation)}
}

// updateStatus writes the node's addresses, port, capacity and a fresh Ready
// condition.
func (n *Node) updateStatus(ctx context.Context) error {
	nodes := n.client.CoreV1().Nodes()
	cur, err := nodes.Get(ctx, n.cfg.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading node %s: %w", n.cfg.Name, err)
	}
	now := metav1.Now()
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewQuantity(int64(runtime.NumCPU()), resource.DecimalSI),
		corev1.ResourceMemory: resource.MustParse("8Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	st := &cur.Status
	st.Capacity, st.Allocatable = capacity, capacity
	st.Addresses = []corev1.NodeAddress{
		{Type: corev1.NodeInternalIP, Address: Address},
		{Type: corev1.NodeHostName, Address: n.cfg.Name},
	}
	st.DaemonEndpoints.KubeletEndpoint.Port = int32(n.Port())
	st.NodeInfo = corev1.NodeSystemInfo{
		KubeletVersion:          KubeletVersion,
		OperatingSystem:         runtime.GOOS,
		Architecture:            runtime.GOARCH,
		ContainerRuntimeVersion: "rexec-node://" + KubeletVersion,
		OSImage:                 osImage(n.exec.Runtime),
		KernelVersion:           kernelVersion(),
		MachineID:               n.cfg.Name,
		SystemUUID:              n.cfg.Name,
		BootID:                  n.cfg.Name,
	}
	st.Phase = corev1.NodeRunning
	want := []corev1.NodeCondition{
		{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", Message: "rexec-node is posting ready status"},
		{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientMemory"},
		{Type: corev1.NodeDiskPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasNoDiskPressure"},
		{Type: corev1.NodePIDPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientPID"},
	}
	for _, c := range want {
		c.LastHeartbeatTime = now
		c.LastTransitionTime = now
		for _, old := range st.Conditions {
			if old.Type == c.Type && old.Status == c.Status {
				c.LastTransitionTime = old.LastTransitionTime
			}
		}
		st.Conditions = setNodeCondition(st.Conditions, c)
	}
	if _, err := nodes.UpdateStatus(ctx, cur, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("updating status of node %s: %w", n.cfg.Name, err)
	}
	return nil
}

func osImage(sb *sandbox.Runtime) string {
	if sb.Isolation == sandbox.IsolationHost {
		return "host processes as the node's user (rexec-node)"
	}
	return fmt.Sprintf("busybox %s, a root filesystem and namespaces per exec (rexec-node, isolation %s)", sb.Version, sb.Isolation)
}

func setNodeCondition(conds []corev1.NodeCondition, c corev1.NodeCondition) []corev1.NodeCondition {
	for i := range conds {
		if conds[i].Type == c.Type {
			conds[i] = c
			return conds
		}
	}
	return append(conds, c)
}

// heartbeat keeps the Ready condition fresh. Nothing here would mark the node
// NotReady (there is no controller manager), but tools that look at the
// heartbeat age, and people reading `kubectl describe node`, expect it.
func (n *Node) heartbeat(ctx context.Context) {
	t := time.NewTicker(n.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := n.updateStatus(ctx); err != nil && ctx.Err() == nil {
				n.logf("heartbeat: %v", err)
			}
		}
	}
}

func (n *Node) enqueue(obj any) {
	key, err := cache.MetaNamespaceKeyFunc(obj)
	if err == nil {
		n.queue.Add(key)
	}
}

func (n *Node) work(ctx context.Context) {
	for {
		key, quit := n.queue.Get()
		if quit {
			return
		}
		err := n.syncPod(ctx, key)
		switch {
		case err == nil:
			n.queue.Forget(key)
		case ctx.Err() != nil:
		default:
			n.logf("pod %s: %v (retrying)", key, err)
			n.queue.AddRateLimited(key)
		}
		n.queue.Done(key)
	}
}

// syncPod plays scheduler and kubelet for one pod.
func (n *Node) syncPod(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return fmt.Errorf("bad pod key %q: %w", key, err)
	}
	pod, err := n.pods.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading pod from cache: %w", err)
	}
	pods := n.client.CoreV1().Pods(ns)
	switch {
	case pod.Spec.NodeName == "":
		if s := pod.Spec.SchedulerName; s != "" && s != corev1.DefaultSchedulerName {
			return nil // somebody else's pod
		}
		binding := &corev1.Binding{
			ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: ns, UID: pod.UID},
			Target:     corev1.ObjectReference{Kind: "Node", Name: n.cfg.Name},
		}
		if err := pods.Bind(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsConflict(err) {
			return fmt.Errorf("binding to node %s: %w", n.cfg.Name, err)
		}
		return nil
	case pod.Spec.NodeName != n.cfg.Name:
		return nil
	case pod.DeletionTimestamp != nil:
		// The kubelet's part of graceful deletion: the "containers" are
		// gone at once, so confirm with a zero grace period.
		err := pods.Delete(ctx, pod.Name, metav1.DeleteOptions{
			GracePeriodSeconds: ptr.To[int64](0),
			Preconditions:      &metav1.Preconditions{UID: &pod.UID},
		})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return fmt.Errorf("finishing deletion: %w", err)
		}
		_ = os.RemoveAll(filepath.Join(n.cfg.WorkDir, podKey(ns, name)))
		return nil
	case podIsRunning(pod):
		return nil
	}
	upd := pod.DeepCopy()
	upd.Status = runningStatus(pod, n.Image())
	if _, err := pods.UpdateStatus(ctx, upd, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("reporting running: %w", err)
	}
	n.logf("pod %s running", key)
	return nil
}

func podIsRunning(pod *corev1.Pod) bool {
	if pod.Status.Phase != corev1.PodRunning || pod.Status.PodIP == "" ||
		len(pod.Status.ContainerStatuses) != len(pod.Spec.Containers) {
		return false
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if !cs.Ready || cs.State.Running == nil {
			return false
		}
	}
	return true
}

// runningStatus is the status a kubelet reports once every container of pod
// has started and is ready.
// image is the image the node really runs, whatever the spec names.
func runningStatus(pod *corev1.Pod, image string) corev1.PodStatus {
	now := metav1.Now()
	st := *pod.Status.DeepCopy()
	st.Phase = corev1.PodRunning
	st.HostIP = Address
	st.HostIPs = []corev1.HostIP{{IP: Address}}
	st.PodIP = Address
	st.PodIPs = []corev1.PodIP{{IP: Address}}
	if st.StartTime == nil {
		st.StartTime = &now
	}
	for _, t := range []corev1.PodConditionType{
		corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady, corev1.PodScheduled,
	} {
		st.Conditions = setPodCondition(st.Conditions, corev1.PodCondition{Type: t, Status: corev1.ConditionTrue, LastTransitionTime: now})
	}
	started := *st.StartTime
	st.InitContainerStatuses = nil
	for _, c := range pod.Spec.InitContainers {
		st.InitContainerStatuses = append(st.InitContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: image, ImageID: imageID(image), ContainerID: containerID(pod, c.Name),
			Ready: true, Started: ptr.To(false),
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: 0, Reason: "Completed", StartedAt: started, FinishedAt: started, ContainerID: containerID(pod, c.Name),
			}},
		})
	}
	st.ContainerStatuses = nil
	for _, c := range pod.Spec.Containers {
		st.ContainerStatuses = append(st.ContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: image, ImageID: imageID(image), ContainerID: containerID(pod, c.Name),
			Ready: true, Started: ptr.To(true),
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: started}},
		})
	}
	return st
}

func setPodCondition(conds []corev1.PodCondition, c corev1.PodCondition) []corev1.PodCondition {
	for i := range conds {
		if conds[i].Type == c.Type {
			if conds[i].Status == c.Status {
				return conds
			}
			conds[i] = c
			return conds
		}
	}
	return append(conds, c)
}

func containerID(pod *corev1.Pod, container string) string {
	return "rexec://" + strings.ReplaceAll(string(pod.UID), "-", "") + "-" + container
}

func imageID(image string) string { return "rexec-node://" + image }

func podKey(namespace, name string) string { return namespace + "_" + name }

// lookup finds a container of a pod bound to this node, the way the kubelet
// refuses exec into pods it does not run.
func (n *Node) lookup(key, container string) (sandbox.ContainerInfo, error) {
	ns, name, ok := strings.Cut(key, "_")
	if !ok || n.pods == nil {
		return sandbox.ContainerInfo{}, fmt.Errorf("pod %q does not exist", key)
	}
	pod, err := n.pods.Pods(ns).Get(name)
	if err != nil || pod.Spec.NodeName != n.cfg.Name {
		return sandbox.ContainerInfo{}, errors.New("pod does not exist")
	}
	var spec *corev1.Container
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == container {
			spec = &pod.Spec.Containers[i]
		}
	}
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == container {
			spec = &pod.Spec.InitContainers[i]
		}
	}
	if spec == nil {
		return sandbox.ContainerInfo{}, fmt.Errorf("container not found (%q)", container)
	}
	info := sandbox.ContainerInfo{
		Namespace: ns, Pod: name, Container: container,
		Dir: filepath.Join(n.cfg.WorkDir, key, container),
	}
	for _, e := range spec.Env {
		if e.ValueFrom == nil {
			info.Env = append(info.Env, e.Name+"="+e.Value)
		}
	}
	return info, nil
}

func kernelVersion() string {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return "unknown"
	}
	b := make([]byte, 0, len(u.Release))
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	return string(b)
}

// logWriter adapts logf to the io.Writer that http.Server's ErrorLog wants.
type logWriter func(format string, args ...any)

func (l logWriter) Write(p []byte) (int, error) {
	l("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
