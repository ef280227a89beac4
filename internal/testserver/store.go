package testserver

import (
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
)

// store holds the objects the server serves. It is read-only once built,
// so handlers share it without locking.
type store struct {
	pods        map[string]*corev1.Pod
	deployments map[string]*appsv1.Deployment
}

func key(namespace, name string) string { return namespace + "/" + name }

func newStore(pods []corev1.Pod, deployments []appsv1.Deployment) (*store, error) {
	st := &store{pods: map[string]*corev1.Pod{}, deployments: map[string]*appsv1.Deployment{}}
	for i := range pods {
		p := pods[i].DeepCopy()
		if p.Namespace == "" {
			p.Namespace = metav1.NamespaceDefault
		}
		// Clients decode by kind, and a stored object's list items and GET
		// answers carry it, as kube-apiserver's do.
		p.TypeMeta = metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"}
		if p.ResourceVersion == "" {
			p.ResourceVersion = "1"
		}
		k := key(p.Namespace, p.Name)
		if _, dup := st.pods[k]; dup {
			return nil, fmt.Errorf("pod %s: %w", k, errDuplicate)
		}
		st.pods[k] = p
	}
	for i := range deployments {
		d := deployments[i].DeepCopy()
		if d.Namespace == "" {
			d.Namespace = metav1.NamespaceDefault
		}
		d.TypeMeta = metav1.TypeMeta{Kind: "Deployment", APIVersion: "apps/v1"}
		if d.ResourceVersion == "" {
			d.ResourceVersion = "1"
		}
		k := key(d.Namespace, d.Name)
		if _, dup := st.deployments[k]; dup {
			return nil, fmt.Errorf("deployment %s: %w", k, errDuplicate)
		}
		st.deployments[k] = d
	}
	return st, nil
}

func (st *store) pod(namespace, name string) *corev1.Pod {
	return st.pods[key(namespace, name)]
}

// get returns the stored object of resource (plural name) or nil.
func (st *store) get(resource, namespace, name string) any {
	switch resource {
	case "pods":
		if p := st.pods[key(namespace, name)]; p != nil {
			return p
		}
	case "deployments":
		if d := st.deployments[key(namespace, name)]; d != nil {
			return d
		}
	}
	return nil
}

// list returns the objects of resource in namespace ("" for all) that
// match both selectors, sorted by namespace and name.
func (st *store) list(resource, namespace string, ls labels.Selector, fs fields.Selector) []any {
	type item struct {
		meta   *metav1.ObjectMeta
		fields fields.Set
		obj    any
	}
	var items []item
	switch resource {
	case "pods":
		for _, p := range st.pods {
			items = append(items, item{&p.ObjectMeta, fields.Set{
				"metadata.name":      p.Name,
				"metadata.namespace": p.Namespace,
				"spec.nodeName":      p.Spec.NodeName,
				"status.phase":       string(p.Status.Phase),
			}, p})
		}
	case "deployments":
		for _, d := range st.deployments {
			items = append(items, item{&d.ObjectMeta, fields.Set{
				"metadata.name":      d.Name,
				"metadata.namespace": d.Namespace,
			}, d})
		}
	}
	sort.Slice(items, func(i, j int) bool {
		return key(items[i].meta.Namespace, items[i].meta.Name) < key(items[j].meta.Namespace, items[j].meta.Name)
	})
	out := []any{}
	for _, it := range items {
		if namespace != "" && it.meta.Namespace != namespace {
			continue
		}
		if !ls.Matches(labels.Set(it.meta.Labels)) || !fs.Matches(it.fields) {
			continue
		}
		out = append(out, it.obj)
	}
	return out
}
