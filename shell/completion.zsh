#compdef cell
# zsh completion for cell (installed as site-functions/_cell). The commands, their options and
# the hosts the project's proxy refused come from cell itself (cell help --complete).
_cell() {
	local -a cmds opts
	if (( CURRENT == 2 )); then
		cmds=(${${(f)"$(command cell help --complete commands)"}/$'\t'/:})
		_describe -t commands 'cell command' cmds
		return
	fi
	case $words[CURRENT-1] in
	-C|--directory|--textfile) _directories; return ;;
	--html|--leave-to|--write-seccomp) _files; return ;;
	--user) _users; return ;;
	esac
	if [[ $PREFIX == -* ]]; then
		opts=(${(f)"$(command cell help --complete options $words[2])"})
		compadd -a opts
		return
	fi
	case $words[2] in
	allow-host) compadd -- ${(f)"$(command cell help --complete hosts)"} ;;
	hook) compadd bash zsh fish ;;
	help) compadd -- ${${(f)"$(command cell help --complete commands)"}%%$'\t'*} ;;
	import) compadd devenv ;;
	run|learn|proxy|up|logs|down|ps|top|metrics|status|gc|version) ;;
	*) _directories ;;
	esac
}
_cell "$@"
