import { mount } from '../lib/mount.js'
import { ForgotPasswordForm } from './forgot.js'
import { RegisterForm } from './register.js'
import { SubscribeForm } from './subscribe.js'

// The pages anyone may open: / (its subscribe form), /register, /reset-password without a link.
mount({ subscribe: SubscribeForm, register: RegisterForm, 'forgot-password': ForgotPasswordForm })
