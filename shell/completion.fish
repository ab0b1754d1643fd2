# fish completion for cell (installed as vendor_completions.d/cell.fish). The commands, their
# options and the hosts the project's proxy refused come from cell itself (cell help --complete).
function __cell_complete
	set -l tokens (commandline -opc)
	set -l cur (commandline -ct)
	if test (count $tokens) -le 1
		command cell help --complete commands
		return
	end
	set -l cmd $tokens[2]
	switch $tokens[-1]
		case -C --directory --textfile
			__fish_complete_directories $cur
			return
		case --html --leave-to --write-seccomp
			__fish_complete_path $cur
			return
		case --user
			__fish_complete_users
			return
	end
	if string match -q -- '-*' $cur
		command cell help --complete options $cmd
		return
	end
	switch $cmd
		case allow-host
			command cell help --complete hosts
		case hook
			printf '%s\n' bash zsh fish
		case help
			command cell help --complete commands
		case import
			echo devenv
		case run learn proxy up logs down ps top metrics status gc version
		case '*'
			__fish_complete_directories $cur
	end
end
complete -c cell -f -a '(__cell_complete)'
