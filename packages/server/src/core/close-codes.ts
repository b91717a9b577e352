/** The close-code table lives in `@hubbub/protocol`, shared with the SDKs that act on each code's class. */
export { CloseCode } from '@hubbub/protocol';
