# cell's shell hook, the part bash and zsh share (shell/cell.bash and shell/cell.zsh hold the
# rest, and @COMMON@ where this goes): inside their "if", with their variables set.
	# The nearest directory from $1 up (stopping short of $2, if given) with a .cell.json,
	# in _cell_found.
	_cell_find() {
		local d=${1%/}
		_cell_found=
		while :; do
			[[ -n $2 && $d == "$2" ]] && return 1
			if [[ -f $d/.cell.json ]]; then
				_cell_found=${d:-/}
				return 0
			fi
			[[ -z $d ]] && return 1
			d=${d%/*}
		done
	}

	# $1 made absolute and without . and .. (as cd -L sees it), in _cell_path.
	_cell_norm() {
		local rest=$1 part out=
		[[ $rest == /* ]] || rest=$PWD/$rest
		while [[ -n $rest ]]; do
			part=${rest%%/*}
			if [[ $rest == */* ]]; then rest=${rest#*/}; else rest=; fi
			case $part in
			'' | .) ;;
			..) out=${out%/*} ;;
			*) out=$out/$part ;;
			esac
		done
		_cell_path=${out:-/}
	}

	# Whether $1 (absolute, without . and ..) is the directory $2 or below it as the kernel
	# finds them (symbolic links followed): $1, $1/.., ... up to / compared with $2 by device
	# and inode. Where one cannot be looked at halfway (a path too long), it is.
	_cell_within() {
		local d=$1
		[[ -d $d ]] || return 1
		while ! [[ $d -ef $2 ]]; do
			[[ $d -ef / ]] && return 1
			d=$d/..
			[[ -d $d ]] || return 0
		done
	}

	# Outside: into the cell of the project at $_cell_root, and where its shell says to go next.
	_cell_enter() {
		local to=
		"$_cell_bin" enter --leave-to "$_cell_leave"
		IFS= read -r -d '' to <"$_cell_leave"
		_cell_pending=
		case $to in
		'') _cell_pending=1 ;; # not entered (not allowed, or a config error: said once)
		+) # its shell ended here: in again once we come from outside; from the project's
			# root, where its .git is the protected one (below, the cell could have made any)
			[[ $PWD -ef $_cell_root ]] || builtin cd "${_cell_cd_opts[@]}" -- "$_cell_root"
			;;
		+/*) _cell_land "${to#+}" ;;
		*) builtin cd "${_cell_cd_opts[@]}" -- "$_cell_root" ;; # (not an absolute path)
		esac
	}

	# Outside, after the cell of $_cell_root handed out $1 (an absolute path, from a file the
	# cell can write): a place outside the project is where we go. A place within (one that a
	# build script prepared, .git/config and all, for the prompt's git to run) only in a
	# project within this one, whose cell we then enter; else, and if that cell is not entered,
	# the project's root, as when the cell's shell ends.
	_cell_land() {
		local root=$_cell_root
		_cell_norm "$1"
		if ! _cell_within "$_cell_path" "$root"; then
			builtin cd "${_cell_cd_opts[@]}" -- "$_cell_path"
			return
		fi
		if _cell_find "$_cell_path" "$root" && _cell_within "$_cell_found" "$root" &&
			! [[ $_cell_found -ef $root ]] &&
			builtin cd "${_cell_cd_opts[@]}" -- "$_cell_path"; then
			_cell_pwd=$PWD
			_cell_root=$_cell_found
			_cell_enter
			[[ -z $_cell_pending ]] && return
			_cell_pending=
			_cell_root=$root
		fi
		builtin cd "${_cell_cd_opts[@]}" -- "$root"
	}

	_cell_outside() {
		while [[ $PWD != "$_cell_pwd" ]]; do
			_cell_pwd=$PWD
			_cell_find "$PWD"
			[[ $_cell_found == "$_cell_root" ]] && return
			_cell_root=$_cell_found
			_cell_pending=
			[[ -n $_cell_root ]] && _cell_enter
		done
		# refused before: again once allowed (cell allow) or edited
		if [[ -n $_cell_pending ]] &&
			[[ $_cell_trust -nt $_cell_leave || $_cell_root/.cell.json -nt $_cell_leave ]]; then
			_cell_enter
			_cell_outside
		fi
	}

	# Inside: hands $1 to the outer shell and ends this one.
	_cell_out() {
		printf '+%s' "$1" >"$CELL_LEAVE"
		exit 0
	}

	# Inside: out at once to $1 if it lies outside the project and the cell has no such
	# directory (or, with $2, whatever the cell has).
	_cell_away() {
		_cell_norm "$1"
		case $_cell_path/ in
		"$CELL_ROOT"/*) ;;
		*) [[ -z ${2-} && -d $_cell_path ]] || _cell_out "$_cell_path" ;;
		esac
	}

	# What the cell refused since the last prompt (cell writes them, a line each), dimmed.
	_cell_notices() {
		local line
		while IFS= read -r -u "$_cell_nfd" line; do
			printf '\e[2m%s\e[0m\n' "$line" >&2
		done
		: >"$_cell_seen"
	}

	_cell_inside() {
		_cell_pwd=$PWD
		case $PWD/ in
		"$CELL_ROOT"/*) _cell_find "$PWD" "$CELL_ROOT" || return ;;
		esac
		_cell_out "$PWD"
	}

	_cell_hook() {
		local s=$?
		if [[ ${CELL_DISABLE:-0} == 0 ]]; then
			if [[ -n ${CELL_LEAVE-} ]]; then
				# notices written since they were last read (a time test, no read)
				[[ -n ${_cell_nfd-} && ! $_cell_seen -nt $CELL_NOTICES ]] && _cell_notices
				[[ $PWD != "$_cell_pwd" ]] && _cell_inside
			elif [[ -z ${CELL_ID-} ]] && [[ $PWD != "$_cell_pwd" || -n $_cell_pending ]]; then
				# (not in a cell: another shell started in one is just a shell)
				_cell_outside
			fi
		fi
		return $s
	}

	# the cell's first shell hands the way out; a shell started in it is just a shell
	if [[ -n ${CELL_LEAVE-} ]]; then
		if [[ -n ${CELL_LEAVE_PID-} && $CELL_LEAVE_PID != "$$" ]]; then
			unset CELL_LEAVE
		else
			export CELL_LEAVE_PID=$$
		fi
	fi
	if [[ -n ${CELL_LEAVE-} && -r ${CELL_NOTICES-} ]]; then
		exec {_cell_nfd}<"$CELL_NOTICES"
		# (the cell's own /tmp)
		_cell_seen=${TMPDIR:-/tmp}/.cell-notices-seen.$$
	fi
	if [[ -n ${CELL_LEAVE-} ]]; then
		# cd - goes where the outer shell was before
		[[ -n ${CELL_OLDPWD-} ]] && OLDPWD=$CELL_OLDPWD
		# a place that exists outside only (most of $HOME): straight out, to be looked for
		# there
		cd() {
			if [[ ${CELL_DISABLE:-0} == 0 && $# == 1 ]]; then
				if [[ $1 == - ]]; then
					_cell_away "${OLDPWD-}" always
				elif [[ $1 != -* ]]; then
					_cell_away "$1"
				fi
			fi
			_cell_prev_cd "$@"
		}
		pushd() {
			[[ ${CELL_DISABLE:-0} == 0 && $# == 1 && $1 != [-+]* ]] && _cell_away "$1"
			builtin pushd "$@"
		}
	fi

