import { mount } from '../lib/mount.js'
import { Account } from './account.js'
import { Board } from './board.js'

// The signed-in user's pages: /app (the todo board) and /app/account.
mount({ board: Board, account: Account })
