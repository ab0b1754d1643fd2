# cell's hook for bash: add  eval "$(cell hook bash)"  to ~/.bashrc.
#
# Outside a cell: at a prompt where $PWD changed, look for .cell.json here and above (shell
# tests only) and, for a project other than the last one seen, run 'cell enter', which takes
# the terminal until the cell's shell ends. Inside a cell entered this way: a cd out of the
# project (or into another project within it) ends the cell's shell and tells the outer one
# where to go, which it does only outside the project or into a project within it (else: to
# the project's root, the cell could have written anything). A prompt where $PWD did not
# change runs built-ins only. CELL_DISABLE=1 turns it off.
if [[ $- == *i* && -z ${_cell_hooked-} ]]; then
	_cell_hooked=1
	_cell_bin=@CELL@
	_cell_trust=@TRUST_DIR@
	_cell_pwd=
	_cell_root=
	_cell_pending=
	_cell_leave=${XDG_RUNTIME_DIR:-${TMPDIR:-/tmp}}/cell-hook.$UID.$$
	export CELL_HOOK="bash $$"

	_cell_cd_opts=()
	# an existing cd function (rvm's, say) is kept: the cell's calls it
	if [[ -n ${CELL_LEAVE-} ]]; then
		if declare -F cd >/dev/null; then
			_cell_def=$(declare -f cd)
			eval "_cell_prev_cd${_cell_def#cd}"
			unset _cell_def
		else
			_cell_prev_cd() { builtin cd "$@"; }
		fi
	fi
@COMMON@
	# the leave file goes with this shell (where no EXIT trap of yours is set; else cell enter
	# removes it once the shell is gone)
	if [[ -z ${CELL_LEAVE-} && -z $(trap -p EXIT) ]]; then
		trap 'command rm -f -- "$_cell_leave"' EXIT
	fi
	if [[ ${PROMPT_COMMAND@a} == *a* ]]; then
		PROMPT_COMMAND=(_cell_hook "${PROMPT_COMMAND[@]}")
	elif [[ -n ${PROMPT_COMMAND-} ]]; then
		PROMPT_COMMAND="_cell_hook;$PROMPT_COMMAND"
	else
		PROMPT_COMMAND=_cell_hook
	fi
fi
