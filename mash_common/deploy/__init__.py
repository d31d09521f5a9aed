"""Deployment generators (Kubernetes manifests) rendered from config/."""
