# cell's hook for zsh: add  eval "$(cell hook zsh)"  to ~/.zshrc.
#
# Outside a cell: at a prompt where $PWD changed, look for .cell.json here and above (shell
# tests only) and, for a project other than the last one seen, run 'cell enter', which takes
# the terminal until the cell's shell ends. Inside a cell entered this way: a cd out of the
# project (or into another project within it) ends the cell's shell and tells the outer one
# where to go, which it does only outside the project or into a project within it (else: to
# the project's root, the cell could have written anything). A prompt where $PWD did not
# change runs built-ins only. CELL_DISABLE=1 turns it off.
if [[ -o interactive && -z ${_cell_hooked-} ]]; then
	typeset -g _cell_hooked=1
	typeset -g _cell_bin=@CELL@
	typeset -g _cell_trust=@TRUST_DIR@
	typeset -g _cell_pwd= _cell_root= _cell_pending= _cell_found= _cell_path=
	typeset -g _cell_leave=${XDG_RUNTIME_DIR:-${TMPDIR:-/tmp}}/cell-hook.$UID.$$
	export CELL_HOOK="zsh $$"

	# (cd -q: landing where the cell's shell said runs no chpwd hooks)
	typeset -ga _cell_cd_opts=(-q)
	# an existing cd function (rvm's, say) is kept: the cell's calls it
	if [[ -n ${CELL_LEAVE-} ]]; then
		if (( ${+functions[cd]} )); then
			functions[_cell_prev_cd]=$functions[cd]
		else
			_cell_prev_cd() { builtin cd "$@"; }
		fi
	fi
@COMMON@
	typeset -ga precmd_functions
	precmd_functions=(_cell_hook ${precmd_functions:#_cell_hook})
	# the leave file goes with this shell
	_cell_exit() { [[ -n ${CELL_LEAVE-} ]] || command rm -f -- "$_cell_leave"; }
	typeset -ga zshexit_functions
	zshexit_functions=(_cell_exit ${zshexit_functions:#_cell_exit})
fi
