"""The toolchain layer: everything about running pip or uv for the target, in one place.

- ``pip_config``: reads pip's configuration (files and ``PIP_*``) as pip merges it; the only
  reader of it in azpublish.
- ``sources``: ``PackageSources``, what that configuration says about where packages come from,
  and what each installer gets for it: environment, flags, container mounts, secrets, and the
  identity the build cache keys on.
- ``installers``: the command lines of pip, uv and pip-tools, and their versions.
- ``platform_tags``: the target in the installers' terms (platform tags, markers).
- ``host_process``: running an installer on this host, output redacted.
- ``containers``: the one container runner (connect, mounts, user, network, cleanup).
- ``build_image``: the build image of a target Python (``Dockerfile.build``).
- ``engine_choice``: which engine runs, with the one fallback rule.
"""
