package testserver

import (
	"errors"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/exec"
	kexec "k8s.io/kubectl/pkg/cmd/exec"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
)

// kubectlExec runs kubectl's own exec code, with a Factory built from the
// server's kubeconfig as kubectl builds it, and returns stdout, stderr and
// Run's error.
func kubectlExec(t *testing.T, srv *Server, container string, args ...string) (string, string, error) {
	t.Helper()
	kubeconfig := srv.Kubeconfig(t)
	cacheDir := t.TempDir()
	flags := genericclioptions.NewConfigFlags(true)
	flags.KubeConfig = &kubeconfig
	flags.CacheDir = &cacheDir
	f := cmdutil.NewFactory(cmdutil.NewMatchVersionFlags(flags))

	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	cmd := kexec.NewCmdExec(f, streams) // for its flags, e.g. --pod-running-timeout
	opts := &kexec.ExecOptions{
		StreamOptions: kexec.StreamOptions{IOStreams: streams, ContainerName: container},
		Executor:      &kexec.DefaultRemoteExecutor{},
	}
	if err := opts.Complete(f, cmd, args, 1); err != nil {
		t.Fatalf("complete: %v", err)
	}
	if err := opts.Validate(); err != nil {
		t.Fatalf("validate: %v", err)
	}
	err := opts.Run()
	return out.String(), errOut.String(), err
}

func TestKubectlExec(t *testing.T) {
	for _, proto := range []string{"websocket", "spdy"} {
		t.Run(proto, func(t *testing.T) {
			if proto == "spdy" {
				t.Setenv(string(cmdutil.RemoteCommandWebsockets), "false")
			}
			opts := defaultOptions()
			if proto == "websocket" {
				// The SPDY run keeps the kubeconfig without a token, which
				// must not make kubectl prompt for a username.
				opts.Token = "kubectl-token"
			}
			srv := Start(t, opts)

			out, _, err := kubectlExec(t, srv, "", "demo", "sh", "-c", "echo hi; exit 3")
			var ce exec.CodeExitError
			if !errors.As(err, &ce) || ce.Code != 3 || out != "hi\n" {
				t.Fatalf("demo: stdout %q err %v, want hi and exit code 3", out, err)
			}

			out, _, err = kubectlExec(t, srv, "", "deploy/web", "sh", "-c", "echo from-web")
			if err != nil || out != "from-web\n" {
				t.Fatalf("deploy/web: stdout %q err %v", out, err)
			}
			if c := srv.LastCall(); c.Name != "web-abc_default" || c.Container != "web" {
				t.Errorf("deploy/web ran in %+v", c)
			}

			if _, _, err = kubectlExec(t, srv, "", "multi", "true"); err != nil {
				t.Fatal(err)
			}
			if c := srv.LastCall(); c.Container != "second" {
				t.Errorf("default container %q, want the annotated second", c.Container)
			}
			if _, _, err = kubectlExec(t, srv, "first", "multi", "true"); err != nil || srv.LastCall().Container != "first" {
				t.Errorf("-c first: %v, ran in %q", err, srv.LastCall().Container)
			}

			_, _, err = kubectlExec(t, srv, "", "nope", "true")
			if err == nil || err.Error() != `pods "nope" not found` {
				t.Errorf("missing pod: %v", err)
			}

			for i, u := range srv.Upgrades() {
				if u != proto {
					t.Errorf("exec %d used %s, want %s", i, u, proto)
				}
			}
			if n := len(srv.Upgrades()); n != 4 {
				t.Errorf("%d exec requests, want 4", n)
			}
		})
	}
}

// The translator really is on the WebSocket path: its SPDY requests reach
// the kubelet stand-in, while SPDY clients are served by the API server.
func TestWebSocketGoesThroughTranslator(t *testing.T) {
	srv := Start(t, defaultOptions())
	if _, _, err := kubectlExec(t, srv, "", "demo", "true"); err != nil {
		t.Fatal(err)
	}
	if n := srv.kubeletExecs.Load(); n != 1 || srv.Upgrades()[0] != "websocket" {
		t.Errorf("websocket exec: kubelet saw %d requests, upgrades %v", n, srv.Upgrades())
	}
	t.Setenv(string(cmdutil.RemoteCommandWebsockets), "false")
	if _, _, err := kubectlExec(t, srv, "", "demo", "true"); err != nil {
		t.Fatal(err)
	}
	if n := srv.kubeletExecs.Load(); n != 1 {
		t.Errorf("spdy exec reached the kubelet: %d requests", n)
	}
}

func TestKubeconfig(t *testing.T) {
	for _, token := range []string{"", "tok"} {
		opts := defaultOptions()
		opts.Token = token
		srv := Start(t, opts)
		loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
			&clientcmd.ClientConfigLoadingRules{ExplicitPath: srv.Kubeconfig(t)}, &clientcmd.ConfigOverrides{})
		raw, err := loader.RawConfig()
		if err != nil {
			t.Fatal(err)
		}
		ns, _, err := loader.Namespace()
		if err != nil || raw.CurrentContext != "test-ctx" || ns != "default" {
			t.Errorf("context %q namespace %q %v", raw.CurrentContext, ns, err)
		}
		cfg, err := loader.ClientConfig()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Host != srv.URL || cfg.BearerToken != token || (token == "") != (len(cfg.CertData) > 0) {
			t.Errorf("token %q: host %s bearer %q cert %d bytes", token, cfg.Host, cfg.BearerToken, len(cfg.CertData))
		}
		cs, _ := kubernetes.NewForConfig(cfg)
		if _, err := cs.CoreV1().Pods("default").Get(ctxFor(t), "demo", metav1.GetOptions{}); err != nil {
			t.Errorf("token %q: %v", token, err)
		}
	}
}
