# bash completion for cell (installed as bash-completion/completions/cell). The commands, their
# options and the hosts the project's proxy refused come from cell itself (cell help --complete).
_cell() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} cmd=${COMP_WORDS[1]}
	local IFS=$'\n'

	if [ "$COMP_CWORD" -eq 1 ]; then
		COMPREPLY=($(compgen -W "$(command cell help --complete commands | cut -f1)" -- "$cur"))
		return
	fi
	case $prev in
	-C | --directory | --textfile)
		COMPREPLY=($(compgen -d -- "$cur"))
		return
		;;
	--html | --leave-to | --write-seccomp)
		COMPREPLY=($(compgen -f -- "$cur"))
		return
		;;
	--user)
		COMPREPLY=($(compgen -u -- "$cur"))
		return
		;;
	esac
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$(command cell help --complete options "$cmd")" -- "$cur"))
		return
	fi
	case $cmd in
	allow-host) COMPREPLY=($(compgen -W "$(command cell help --complete hosts)" -- "$cur")) ;;
	hook) COMPREPLY=($(compgen -W $'bash\nzsh\nfish' -- "$cur")) ;;
	help) COMPREPLY=($(compgen -W "$(command cell help --complete commands | cut -f1)" -- "$cur")) ;;
	import) COMPREPLY=($(compgen -W devenv -- "$cur")) ;;
	run | learn | proxy | up | logs | down | ps | top | metrics | status | gc | version) ;;
	*) COMPREPLY=($(compgen -d -- "$cur")) ;;
	esac
}
complete -F _cell cell
