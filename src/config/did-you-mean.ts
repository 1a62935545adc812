// The "did you mean" helpers live in kit/ so that backends/ can use them too (backends never import src/).
export { didYouMean, nearest, unknownKeysSentence } from '../../kit/did-you-mean.js';
