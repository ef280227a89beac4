// Package podopts owns reading a pods/exec or pods/attach query the way
// kube-apiserver reads it, for the servers in this project that take one:
// the rexec gateway and the integration tests' API stand-in.
package podopts

import (
	"fmt"
	"net/url"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/conversion"
	"k8s.io/apimachinery/pkg/runtime"
)

// codec decodes the query as kube-apiserver does: a parameter codec over a
// scheme with url.Values conversions for PodExecOptions and
// PodAttachOptions. client-go's scheme only encodes these (the decoding
// conversions are generated inside k8s.io/kubernetes), so they are
// registered here with the same per-field rules, on apimachinery's own
// string-to-bool conversion ("0" and "false" are false, other values true).
var codec = func() runtime.ParameterCodec {
	s := runtime.NewScheme()
	s.AddKnownTypes(corev1.SchemeGroupVersion, &corev1.PodExecOptions{}, &corev1.PodAttachOptions{})
	must(s.AddConversionFunc((*url.Values)(nil), (*corev1.PodExecOptions)(nil), func(a, b any, scope conversion.Scope) error {
		in, out := a.(*url.Values), b.(*corev1.PodExecOptions)
		out.Container = in.Get("container")
		out.Command = (*in)["command"]
		return bools(in, scope, map[string]*bool{"stdin": &out.Stdin, "stdout": &out.Stdout, "stderr": &out.Stderr, "tty": &out.TTY})
	}))
	must(s.AddConversionFunc((*url.Values)(nil), (*corev1.PodAttachOptions)(nil), func(a, b any, scope conversion.Scope) error {
		in, out := a.(*url.Values), b.(*corev1.PodAttachOptions)
		out.Container = in.Get("container")
		return bools(in, scope, map[string]*bool{"stdin": &out.Stdin, "stdout": &out.Stdout, "stderr": &out.Stderr, "tty": &out.TTY})
	}))
	return runtime.NewParameterCodec(s)
}()

func bools(in *url.Values, scope conversion.Scope, fields map[string]*bool) error {
	for param, field := range fields {
		values := (*in)[param]
		if err := runtime.Convert_Slice_string_To_bool(&values, field, scope); err != nil {
			return err
		}
	}
	return nil
}

func must(err error) {
	if err != nil {
		panic(err) // only a programming error: both types are known
	}
}

// Exec reads a pods/exec query.
func Exec(q url.Values) (*corev1.PodExecOptions, error) {
	o := &corev1.PodExecOptions{}
	if err := codec.DecodeParameters(q, corev1.SchemeGroupVersion, o); err != nil {
		return nil, fmt.Errorf("reading the exec options: %w", err)
	}
	return o, nil
}

// Attach reads a pods/attach query.
func Attach(q url.Values) (*corev1.PodAttachOptions, error) {
	o := &corev1.PodAttachOptions{}
	if err := codec.DecodeParameters(q, corev1.SchemeGroupVersion, o); err != nil {
		return nil, fmt.Errorf("reading the attach options: %w", err)
	}
	return o, nil
}
