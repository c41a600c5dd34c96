import { mount } from '../lib/mount.js'
import { RegisterForm } from './register.js'
import { SubscribeForm } from './subscribe.js'

// The pages anyone may open: / (its subscribe form) and /register.
mount({ subscribe: SubscribeForm, register: RegisterForm })
