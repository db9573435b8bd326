# Sourced by the setup scripts: apt_install PKG... (as root, or through sudo; updates once).
apt_install() {
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  if [ -z "${_DRPO_APT_UPDATED:-}" ]; then
    $sudo apt-get update -qq
    _DRPO_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}
