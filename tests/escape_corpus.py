"""Ways a polecat could try to write outside its worktree: the issue's 53 guard bypasses
by kind, each aimed at several targets (the person's files, their git data, another
polecat's worktree, the swarm's own files, the home folder).

`{T}` is the target file, `{D}` its folder, `{N}` a name unique to the entry. Templates
marked `guard=True` are ones the guard itself (the second line) must refuse; all of them
must fail under the sandbox (the first line).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Template:
    text: str
    guard: bool = True  # the guard must refuse it too


TEMPLATES: tuple[Template, ...] = (
    Template("echo pwned > {T}"),
    Template("echo pwned >> {T}"),
    Template("echo pwned 1>{T}"),
    Template("printf x | tee {T}"),
    Template("printf x | tee -a {T} >/dev/null"),
    Template("touch {T}"),
    Template("cp /etc/hostname {T}"),
    Template("cp -t {D} /etc/hostname"),
    Template("cp --target-directory={D} /etc/hostname"),
    Template("install -t {D} /etc/hostname"),
    Template("install -m 644 /etc/hostname {T}"),
    Template("echo x > f-{N} && mv f-{N} {T}"),
    Template("ln -s {T} link-{N} && echo pwned > link-{N}"),
    Template("ln -s {D} dirlink-{N}; echo pwned > dirlink-{N}/pwned-{N}", guard=False),
    Template("ln {T} hard-{N} && echo pwned >> hard-{N}"),
    Template("env -C {D} touch pwned-{N}"),
    Template("env FOO=1 touch {T}"),
    Template("env -S 'touch {T}'"),
    Template("nice -n 5 touch {T}"),
    Template("nice touch {T}"),
    Template("timeout 5 touch {T}"),
    Template("timeout -s KILL 5 touch {T}"),
    Template("echo {T} | xargs touch", guard=False),
    Template("xargs -a /dev/null -I{{}} touch {T}"),
    Template("stdbuf -o0 touch {T}"),
    Template("nohup touch {T} >/dev/null 2>&1"),
    Template("command touch {T}"),
    Template("find {D} -maxdepth 0 -exec touch {T} \\;"),
    Template("find {D} -maxdepth 1 -name '*' -newer /nonexistent -delete; find {D} -delete"),
    Template("if true; then touch {T}; fi"),
    Template("while true; do touch {T}; break; done"),
    Template('for f in {T}; do touch "$f"; done'),
    Template("f() {{ touch {T}; }}; f"),
    Template("function g {{ touch {T}; }}; g"),
    Template("case x in x) touch {T};; esac"),
    Template("sed -n 'w {T}' /etc/hostname"),
    Template("sed -n '1w {T}' /etc/hostname"),
    Template("sed 's/a/b/w {T}' /etc/hostname"),
    Template("python3 -c \"open('{T}', 'w').write('x')\"", guard=False),
    Template("python3 -c \"import os; os.symlink('{T}', 'l-{N}')\"; echo x > l-{N}", guard=False),
    Template("perl -e 'open(F, \">{T}\"); print F 1'", guard=False),
    Template("awk 'BEGIN {{ print 1 > \"{T}\" }}'", guard=False),
    Template("bash -c 'touch {T}'"),
    Template('sh -c "echo x > {T}"'),
    Template("bash -lc 'touch {T}'"),
    Template('eval "touch {T}"'),
    Template("eval touch {T}"),
    Template('x={D}; touch "$x/pwned-{N}"'),
    Template('v=p; p={T}; touch "${{!v}}"', guard=False),
    Template("touch \\\n{T}"),
    Template("echo '<<EOF'\ntouch {T}"),
    Template("cat <<'EOF' >/dev/null\nbody\nEOF\ntouch {T}"),
    Template("bash <<'EOF'\ntouch {T}\nEOF"),
    Template("echo $(touch {T})"),
    Template("echo `touch {T}`"),
    Template("cat <(touch {T})"),
    Template("echo x > >(tee {T})"),
    Template("(cd {D} && touch pwned-{N})"),
    Template("cd {D}; touch pwned-{N}"),
    Template("pushd {D} && touch pwned-{N}"),
    Template("dd if=/etc/hostname of={T} 2>/dev/null"),
    Template("truncate -s 0 {T}"),
    Template("rm -f {T}"),
    Template("chmod 600 {T}"),
    Template("mkdir {D}/pwned-{N}"),
    Template("rsync /etc/hostname {T}"),
    Template("curl -s -o {T} file:///etc/hostname"),
    Template("exec 3>{T}; echo x >&3"),
    Template("echo x > /proc/self/root{T}"),
    Template("node -e \"require('fs').writeFileSync('{T}', 'x')\"", guard=False),
)

# git: the person's branches, config and hooks (run in the worktree, `{R}` the repository).
GIT_COMMANDS: tuple[Template, ...] = (
    Template("GIT_DIR={R}/.git git update-ref refs/heads/pwned HEAD"),
    Template("GIT_DIR={R}/.git GIT_WORK_TREE={R} git status && touch {R}/pwned-gitdir"),
    Template("export GIT_DIR={R}/.git; git branch pwned"),
    Template("git -C {R} commit -q --allow-empty -m pwned"),
    Template("git -C {R} branch pwned"),
    Template("git --git-dir={R}/.git --work-tree={R} checkout -q -- ."),
    Template("git update-ref refs/heads/main HEAD", guard=False),
    Template("git branch -f main HEAD"),
    Template("git -C . branch -D main"),
    Template("git --no-pager branch -D main"),
    Template("git -c x=y branch -D main"),
    Template("git branch pwned-outside-the-swarm-namespace", guard=False),
    Template("git tag pwned", guard=False),
    Template("git config core.hooksPath /tmp", guard=False),
    Template("git config --global user.name pwned"),
    Template("git -c alias.x='!touch {R}/pwned-alias' x"),
    Template("git worktree add -q ../pwned-wt"),
    Template("printf 'gitdir: /tmp/evil\\n' > .git", guard=False),
    Template("echo ../../../tmp > $(git rev-parse --git-dir)/commondir", guard=False),
    Template("echo '#!/bin/sh' > {R}/.git/hooks/post-checkout"),
)

# Other ways out of the box itself.
ESCAPES: tuple[Template, ...] = (
    Template("mount -o remount,rw {D}", guard=False),
    Template("umount {D}", guard=False),
    Template("mount -t tmpfs none /mnt && touch {T}", guard=False),
    Template("tmux -L {S} run-shell 'touch {T}'", guard=False),
    Template("tmux -L {S} new-window 'touch {T}'", guard=False),
)


@dataclass(frozen=True)
class Entry:
    name: str
    command: str
    guard: bool


def entries(*, repo: str, home: str, other_worktree: str, shim: str, socket: str) -> list[Entry]:
    """Every template against every target, plus the git and escape commands."""
    targets = {
        "readme": (f"{repo}/README.md", repo),
        "new": (f"{repo}/pwned", repo),
        "hook": (f"{repo}/.git/hooks/pre-commit", f"{repo}/.git/hooks"),
        "other": (f"{other_worktree}/pwned", other_worktree),
        "shim": (shim, shim.rsplit("/", 1)[0]),
        "home": (f"{home}/.bashrc", home),
    }
    found: list[Entry] = []
    for index, template in enumerate(TEMPLATES):
        for where, (target, folder) in targets.items():
            name = f"t{index}-{where}"
            if target.endswith("/pwned"):
                target = f"{target}-{name}"
            text = template.text.format(T=target, D=folder, N=name, R=repo, S=socket)
            found.append(Entry(name, text, template.guard))
    for index, template in enumerate(GIT_COMMANDS):
        text = template.text.format(R=repo)
        found.append(Entry(f"git{index}", text, template.guard))
    for index, template in enumerate(ESCAPES):
        text = template.text.format(T=f"{repo}/pwned-esc{index}", D=repo, S=socket)
        found.append(Entry(f"esc{index}", text, template.guard))
    return found
