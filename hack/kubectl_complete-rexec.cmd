@echo off
rem Shell completion for kubectl rexec on Windows: kubectl 1.26 and later run
rem kubectl_complete-rexec from PATH. Put this file next to kubectl-rexec.exe.
kubectl-rexec.exe __complete %*
