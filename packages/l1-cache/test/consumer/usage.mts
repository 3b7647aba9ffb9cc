import { version } from '@tierkit/l1-cache'

const v: string = version
console.log(v)
