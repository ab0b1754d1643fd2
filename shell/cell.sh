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

	# Outside: into the cell of the project at $_cell_root, and where its shell says to go next.
	_cell_enter() {
		local to=
		"$_cell_bin" enter --leave-to "$_cell_leave"
		IFS= read -r -d '' to <"$_cell_leave"
		case $to in
		'') _cell_pending=1 ;; # not entered (not allowed, or a config error: said once)
		+) _cell_pending= ;;   # its shell ended here: in again once we come from outside
		+*)
			_cell_pending=
			builtin cd "${_cell_cd_opts[@]}" -- "${to#+}"
			;;
		esac
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
			elif [[ $PWD != "$_cell_pwd" || -n $_cell_pending ]]; then
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

